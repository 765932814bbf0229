//! Floating seats from C: the example holds a seat while it runs, another machine is told
//! that no seat is free (and when one frees up at the latest), and gets it once the first
//! releases it; the released seat no longer licenses its app.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Stdio};

use crate::support::*;

/// A running example program that holds a seat until it reads a line; killed if the test
/// fails first.
struct Holder {
    child: Child,
    out: BufReader<ChildStdout>,
    seen: String,
}

impl Holder {
    fn start(env: &Env, machine: &str, args: &[&str]) -> Self {
        let mut child = env
            .command("licet-demo-shared", machine)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            out,
            seen: String::new(),
        }
    }

    /// Reads the program's output up to a line containing `marker`; all of it so far.
    fn read_until(&mut self, marker: &str) -> &str {
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).expect("read");
            assert!(n > 0, "ended before {marker:?}: {}", self.seen);
            self.seen.push_str(&line);
            if line.contains(marker) {
                return &self.seen;
            }
        }
    }

    /// Presses Enter: the program releases its seat and ends. Its whole output.
    fn release(mut self) -> String {
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(b"\n").expect("enter");
        drop(stdin);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut rest).expect("read");
        let status = self.child.wait().expect("ends");
        format!("{}{rest}exit={:?}", self.seen, status.code())
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_c_example_holds_a_floating_seat_until_it_releases_it() {
    let env = Env::start_floating(1);
    let key = env.license();
    let mut holder = Holder::start(&env, "seat-a", &["floating", &key]);
    let out = holder.read_until("holding the seat");
    for shown in [
        "checkout: result=0",
        "seat: ",
        "lease ends at: 1",
        "on-lost: result=0",
    ] {
        assert!(out.contains(shown), "{shown}: {out}");
    }

    // The only seat is held: the other machine is told so, and when it frees up at the
    // latest (the holder's lease end).
    let (code, out) = env.run("licet-demo-shared", "seat-b", &["floating", &key]);
    assert_eq!(code, NO_FREE_SEAT, "{out}");
    let within: u64 = out
        .split("frees up within ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("says when: {out}"));
    assert!((1..=120).contains(&within), "{out}");

    let out = holder.release();
    for shown in [
        "status: held",
        "release: result=0",
        "status after release: released",
        // The released seat's lease no longer licenses the app.
        &format!("check after release: result={NOT_ACTIVATED}"),
        "exit=Some(0)",
    ] {
        assert!(out.contains(shown), "{shown}: {out}");
    }

    // Free at once for the other machine, which holds it until its input ends.
    let (code, out) = env.run("licet-demo-shared", "seat-b", &["floating", &key]);
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("release: result=0"), "{out}");
    // The stored key checks out again, and the seat can be borrowed (static library).
    let (code, out) = env.run("licet-demo-static", "seat-a", &["floating", "-", "3600"]);
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("borrow: result=0"), "{out}");
    assert!(out.contains("borrowed: yes"), "{out}");
    assert!(out.contains("status after release: released"), "{out}");
}

#[test]
fn the_floating_demo_runs_clean_under_valgrind() {
    let Some(valgrind) = valgrind() else {
        return;
    };
    let env = Env::start_floating(1);
    let key = env.license();
    env.run_clean_under_valgrind(
        &valgrind,
        "vg-seat",
        &[vec!["floating", &key], vec!["floating", "-", "600"]],
    );
}
