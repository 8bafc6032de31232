//! Locations as the user writes them (`orders/`, `../data/x.parquet`,
//! `s3://bucket/prefix`) resolved to absolute URLs.

use std::path::Path;

use url::Url;

use super::format::FileFormatKind;

const SCHEMES: &[&str] = &[
    "file", "s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "adl", "http", "https",
];

/// True when the location names a URL rather than a local path.
pub fn is_remote(raw: &str) -> bool {
    scheme_of(raw).is_some_and(|s| s != "file")
}

fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once("://")?;
    (scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')).then_some(scheme)
}

/// Resolves a table location against the project directory. A local
/// directory, or a remote location whose last segment has no known data-file
/// extension, is a collection (a trailing `/` is added), so `s3://b/orders`
/// and `s3://b/orders/` mean the same folder.
pub fn resolve_location(raw: &str, base_dir: &Path) -> Result<Url, String> {
    let raw = raw.trim();
    match scheme_of(raw) {
        Some(scheme) if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) => Err(format!(
            "unsupported URL scheme `{scheme}://`; expected a path or one of file://, s3://, gs://, az://, abfss://, http(s)://"
        )),
        Some(_) => {
            let mut url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
            if url.scheme() == "file" {
                let path = url
                    .to_file_path()
                    .map_err(|_| format!("`{raw}` is not a valid file URL"))?;
                return local_url(&path);
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("`{raw}` names no bucket or host"));
            }
            let last = url.path().rsplit('/').next().unwrap_or("");
            if !url.path().ends_with('/') && FileFormatKind::from_extension(last).is_none() {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            Ok(url)
        }
        None => {
            let path = Path::new(raw);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                base_dir.join(path)
            };
            local_url(&path)
        }
    }
}

/// Resolves an output target: relative paths are relative to the current
/// directory, as a shell user expects of `-o`.
pub fn resolve_output(raw: &str) -> Result<Url, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let url = resolve_location(raw, &cwd)?;
    if url.scheme() == "file" && url.path().ends_with('/') {
        return Err(format!(
            "`{raw}` is a directory; expected a file name such as {raw}/result.parquet"
        ));
    }
    if url.path().ends_with('/') && url.scheme() != "file" {
        return Err(format!(
            "`{raw}` names a folder; expected a file name such as {raw}/result.parquet"
        ));
    }
    Ok(url)
}

fn local_url(path: &Path) -> Result<Url, String> {
    // A trailing `/` says "folder" even before the folder exists.
    let slash = path.as_os_str().to_string_lossy().ends_with('/');
    let path = normalize(path);
    let is_dir = slash || path.is_dir();
    let url = if is_dir {
        Url::from_directory_path(&path)
    } else {
        Url::from_file_path(&path)
    };
    url.map_err(|_| format!("`{}` cannot be turned into a file URL", path.display()))
}

/// Removes `.` and `..` so that URLs and messages show the real path.
fn normalize(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_project() {
        let url = resolve_location("data/../orders.parquet", Path::new("/srv/proj")).unwrap();
        assert_eq!(url.as_str(), "file:///srv/proj/orders.parquet");
    }

    #[test]
    fn remote_prefix_without_extension_is_a_folder() {
        let url = resolve_location("s3://bucket/orders", Path::new("/")).unwrap();
        assert_eq!(url.as_str(), "s3://bucket/orders/");
        let file = resolve_location("s3://bucket/orders/part-0.parquet", Path::new("/")).unwrap();
        assert_eq!(file.as_str(), "s3://bucket/orders/part-0.parquet");
    }

    #[test]
    fn a_trailing_slash_makes_a_folder_even_if_it_does_not_exist_yet() {
        let url = resolve_location("state/", Path::new("/nonexistent/proj")).unwrap();
        assert_eq!(url.as_str(), "file:///nonexistent/proj/state/");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let err = resolve_location("ftp://host/x.parquet", Path::new("/")).unwrap_err();
        assert!(err.contains("unsupported URL scheme `ftp://`"), "{err}");
    }

    #[test]
    fn a_bucket_is_required() {
        assert!(resolve_location("s3:///x.parquet", Path::new("/")).is_err());
    }
}
