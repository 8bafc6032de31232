//! A temporary file of DataFusion's disk manager (the folders and quota
//! its operators spill to) written through a buffer, then mapped: how the
//! columns of `texts` and the words of `words` leave memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::{SpillFile, SpillWriter};
use memmap2::{Mmap, MmapMut};

use crate::error::{Error, Result};

/// Bytes buffered before a write to a temporary file (each source read
/// writes three files at once: small buffers, counted).
pub const WRITE_BUFFER: usize = 64 << 10;

/// A temporary file of the disk manager being written, to be mapped once
/// written.
pub struct Writing {
    file: Arc<dyn SpillFile>,
    path: PathBuf,
    out: BufWriter<Box<dyn SpillWriter>>,
    /// What the file holds, for errors.
    pub what: String,
}

impl Writing {
    /// A temporary file of `disk`; `None` (with a warning naming `what`)
    /// when no local temporary file can be made.
    pub fn create(disk: &Arc<DiskManager>, what: &str, warn: bool) -> Result<Option<Writing>> {
        let held = |why: &str| {
            if warn {
                log::warn!("{what} are held in memory: {why}");
            }
            Ok(None)
        };
        if !disk.tmp_files_enabled() {
            return held("the runtime has no temporary folder");
        }
        let file = match disk.create_tmp_file(what) {
            Ok(file) => file,
            Err(e) => return held(&format!("no temporary file ({e})")),
        };
        let Some(path) = file.path().map(std::path::Path::to_path_buf) else {
            return held("the temporary files are not local files");
        };
        let writer = file
            .open_writer()
            .map_err(|e| io_error(what, &path, std::io::Error::other(e)))?;
        let out = BufWriter::with_capacity(WRITE_BUFFER, writer);
        Ok(Some(Writing {
            file,
            path,
            out,
            what: what.to_string(),
        }))
    }

    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let Writing { out, path, what, .. } = self;
        out.write_all(bytes).map_err(|e| io_error(what, path, e))
    }

    /// The file written out (its buffer flushed, its writer finished and
    /// closed), with its path and what it holds.
    fn written(self) -> Result<(Arc<dyn SpillFile>, PathBuf, String)> {
        let Writing { file, path, out, what } = self;
        let io = |source| io_error(&what, &path, source);
        let mut inner = out.into_inner().map_err(|e| io(e.into_error()))?;
        inner.finish().map_err(|e| io(std::io::Error::other(e)))?;
        drop(inner);
        Ok((file, path, what))
    }

    /// The file, written out and mapped to be written in place (`words`):
    /// every byte was written first, so its blocks are on disk and a full
    /// disk fails the write above, not a store to the map.
    pub fn map_mut(self) -> Result<(MmapMut, Arc<dyn SpillFile>)> {
        let (file, path, what) = self.written()?;
        let io = |source| io_error(&what, &path, source);
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        // SAFETY: as for `map`: the file is the run's own temporary file,
        // which nothing else opens, writes or truncates while it is mapped;
        // the disk manager removes it only once the returned handle goes.
        #[allow(unsafe_code)]
        let map = unsafe { MmapMut::map_mut(&opened) }.map_err(io)?;
        Ok((map, file))
    }

    /// The file, written out and mapped.
    pub fn map(self) -> Result<(Mmap, Arc<dyn SpillFile>)> {
        let (file, path, what) = self.written()?;
        let io = |source| io_error(&what, &path, source);
        let opened = File::open(&path).map_err(io)?;
        // SAFETY: the file is this column's own temporary file, written
        // above and never written again; DataFusion's disk manager made it
        // in its own folder and removes it only when the returned handle is
        // dropped, which its holders do after the map. Nothing else writes
        // or truncates it while mapped.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&opened) }.map_err(io)?;
        Ok((map, file))
    }
}

pub fn io_error(what: &str, path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("could not keep {what} in the temporary file {}", path.display()),
        source,
    }
}
