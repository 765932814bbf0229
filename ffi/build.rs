//! Gives the shared library its platform name for the dynamic linker: on Linux the SONAME
//! `liblicet.so.<major>` (apps record it and keep working across compatible updates), on
//! macOS the install name `@rpath/liblicet.<major>.dylib`.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux") => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblicet.so.{major}"),
        Ok("macos") => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/liblicet.{major}.dylib")
        }
        _ => {}
    }
    println!("cargo:rerun-if-changed=build.rs");
}
