// DataFusion allocates many short-lived buffers; mimalloc serves them faster
// than the system allocator (as in datafusion-cli).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(oneview::cli::main());
}
