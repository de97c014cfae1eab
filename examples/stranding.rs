//! Nothing stranded behind a blocked thread: gmp's time for each case of issue 12's table.
//!
//! Run with `cargo run --release --example stranding`. Each case blocks threads for 3 s
//! (`std::thread::sleep`, or inside `gmp::syscall`); Go's times are in brackets.

use std::time::Duration;

#[path = "../tests/cases/stranding.rs"]
mod cases;

use cases::Blocking;

fn main() {
    if let Some(kind) = std::env::var_os(cases::EXIT_CHILD_ENV) {
        cases::exit_child(kind == "send");
        return;
    }
    for maxprocs in [2, 1] {
        let took = cases::round_trips_beside_a_blocker(maxprocs, 1);
        println!("maxprocs({maxprocs}) 50 TCP round trips by main beside a 3 s blocker: {took:?} [Go: ~ms]");
    }
    println!(
        "maxprocs(2) 50 TCP round trips by main beside two 3 s blockers: {:?} [Go: ~ms]",
        cases::round_trips_beside_a_blocker(2, 2)
    );
    println!(
        "maxprocs(2) the same 50 round trips in block_on's own future beside a 3 s blocker: {:?} \
         (only the calling thread may poll it)",
        cases::round_trips_in_block_on_beside_a_blocker(2, 1)
    );
    for maxprocs in [1, 2] {
        let took = cases::timer_beside_a_blocker(maxprocs, maxprocs);
        println!("maxprocs({maxprocs}) 50 ms sleep while every P blocks: woke after {took:?} [Go: ~50 ms]");
    }
    for maxprocs in [1, 2] {
        for how in [Blocking::Marked, Blocking::Unmarked] {
            let took = cases::socket_beside_a_blocker(maxprocs, how);
            println!(
                "maxprocs({maxprocs}) socket answered after 100 ms while every P blocks ({how:?}): read after {took:?} [Go: ~100 ms]"
            );
        }
    }
    for maxprocs in [2, 1] {
        let (took, threads) = cases::simultaneous_blockers(maxprocs, 16, Duration::from_secs(1));
        println!(
            "maxprocs({maxprocs}) 16 goroutines each blocking 1 s at once: {took:?}, {threads} runtime threads at peak [Go: ~1 s]"
        );
    }
    for maxprocs in [1, 2] {
        println!(
            "maxprocs({maxprocs}) num_goroutine() in block_on with nothing spawned: {} [Go: 1]",
            cases::goroutines_with_nothing_spawned(maxprocs)
        );
    }
    for maxprocs in [1, 2] {
        let took = cases::outside_wake_while_every_p_blocks(maxprocs);
        println!(
            "maxprocs({maxprocs}) goroutine woken by a plain thread while every P blocks: ran after {took:?} [Go: ~µs]"
        );
    }
    for send_body in [true, false] {
        let exe = std::env::current_exe().expect("current exe");
        let (took, printed) = cases::time_exit(std::process::Command::new(exe), send_body);
        let body = if send_body { "a Send body" } else { "a body that is not Send" };
        println!(
            "#[gmp::main] with {body} returned while 10 s blocking calls ran: the process exited after {took:?} \
             (printed {printed:?}) [Go: at once]"
        );
    }
}
