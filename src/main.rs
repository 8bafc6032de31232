fn main() {
    std::process::exit(oneview::cli::main());
}
