//! Names the one platform predicate gmp's code branches on by kernel: `cfg(linux_kernel)`,
//! Linux and Android (epoll, pidfd_open, /proc), so no file spells the list itself.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(linux_kernel)");
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!("cargo::rustc-cfg=linux_kernel");
    }
}
