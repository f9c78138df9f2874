//! Unit tests of AIO contexts: sizing, the budget, slots, reaping,
//! cancellation and death.

use super::*;

#[test]
fn capacity_is_linuxs_ring_less_one() {
    // 2 * max(1, 4 * 1) = 8 events: one page holds 127.
    assert_eq!(capacity(1, 1), Ok(126));
    // 2 * 128 = 256 events and the header: three pages, 383 events.
    assert_eq!(capacity(128, 1), Ok(382));
    assert_eq!(capacity(4_194_304, 1).map(|_| ()), Ok(()));
    assert_eq!(capacity(4_194_305, 1), Err(AioError::TooLarge));
    assert_eq!(capacity(u32::MAX, 1), Err(AioError::TooLarge));
}

#[test]
fn the_budget_counts_live_contexts() {
    let budget = Arc::new(Budget::new(10));
    let table = Contexts::default();
    table.setup(0x1000, 6, 8, &budget).unwrap();
    assert_eq!(budget.used(), 6);
    assert_eq!(table.setup(0x2000, 5, 8, &budget).err(), Some(AioError::Exhausted));
    table.setup(0x2000, 4, 8, &budget).unwrap();
    assert_eq!(budget.used(), 10);
    table.destroy(0x1000).unwrap();
    assert_eq!(budget.used(), 4);
    assert_eq!(table.destroy(0x1000).err(), Some(AioError::NoContext));
    // A new ring where an old (unmapped) one was replaces its context.
    let old = table.get(0x2000).unwrap();
    table.setup(0x2000, 2, 8, &budget).unwrap();
    assert_eq!(old.reserve().err(), Some(AioError::NoContext));
    assert_eq!(budget.used(), 2);
    drop(table);
    assert_eq!(budget.used(), 0, "an address space's contexts go with it");
}

fn pipe() -> (Arc<OpenFile>, Arc<OpenFile>) {
    let owner = crate::vfs::pipe::Owner { uid: 0, gid: 0, privileged: true };
    crate::vfs::pipe::new_pipe(0, owner).unwrap()
}

fn req(obj: u64) -> Request {
    Request { obj, data: obj * 10, resfd: None }
}

#[test]
fn slots_bound_requests_until_reaped() {
    let budget = Arc::new(Budget::default());
    let table = Contexts::default();
    let ctx = table.setup(0x1000, 1, 2, &budget).unwrap();
    ctx.reserve().unwrap().complete(req(1), 5);
    ctx.reserve().unwrap().complete(req(2), -(libc::EIO as i64));
    assert_eq!(ctx.reserve().err(), Some(AioError::Exhausted));
    // A slot dropped without completing is given back.
    let mut seen = Vec::new();
    assert_eq!(
        ctx.reap(1, |b| {
            seen.extend_from_slice(b);
            Ok::<(), ()>(())
        }),
        Ok(Some(1))
    );
    assert_eq!(seen, Event { data: 10, obj: 1, res: 5, res2: 0 }.bytes());
    drop(ctx.reserve().unwrap());
    assert!(ctx.idle());
    // A failed copy takes nothing.
    assert_eq!(ctx.reap(4, |_| Err("fault")), Err("fault"));
    assert_eq!(ctx.reap(4, |b| if b.len() == 32 { Ok::<(), ()>(()) } else { Err(()) }), Ok(Some(1)));
    assert_eq!(ctx.reap(4, |_| Ok::<(), ()>(())), Ok(Some(0)));
    table.destroy(0x1000).unwrap();
    assert!(ctx.is_dead());
    assert_eq!(ctx.reap(4, |_| Ok::<(), ()>(())), Ok(None));
    assert_eq!(ctx.reserve().err(), Some(AioError::NoContext));
}

#[test]
fn cancel_finds_only_pending_polls() {
    let budget = Arc::new(Budget::default());
    let table = Arc::new(Contexts::default());
    let ctx = table.setup(0x1000, 4, 8, &budget).unwrap();
    let (r, _w) = pipe();
    let poller = table.poller().unwrap();
    ctx.reserve().unwrap().pend(req(7), r, libc::POLLIN, poller);
    assert_eq!(ctx.cancel(8), Err(AioError::NotPending));
    assert_eq!(ctx.cancel(7), Ok(()));
    assert_eq!(ctx.cancel(7), Err(AioError::NotPending));
    let mut seen = Vec::new();
    ctx.reap(4, |b| {
        seen.extend_from_slice(b);
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(seen, Event { data: 70, obj: 7, res: 0, res2: 0 }.bytes());
}

#[test]
fn the_poller_completes_a_poll_when_its_file_is_ready_and_signals_the_eventfd() {
    let budget = Arc::new(Budget::default());
    let table = Arc::new(Contexts::default());
    let ctx = table.setup(0x1000, 4, 8, &budget).unwrap();
    let (r, w) = pipe();
    let efd = Arc::new(OpenFile::new(Box::new(EventFd::new(0, false)), None, libc::O_RDWR));
    let poller = table.poller().unwrap();
    let request = Request { obj: 9, data: 1, resfd: Some(efd.clone()) };
    ctx.reserve().unwrap().pend(request, r, libc::POLLIN | libc::POLLERR | libc::POLLHUP, poller);
    assert_eq!(ctx.reap(4, |_| Ok::<(), ()>(())), Ok(Some(0)));
    w.write(b"x").unwrap();
    let mut seen = Vec::new();
    for _ in 0..5000 {
        ctx.reap(4, |b| {
            seen.extend_from_slice(b);
            Ok::<(), ()>(())
        })
        .unwrap();
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(
        seen,
        Event { data: 1, obj: 9, res: (libc::POLLIN | libc::POLLRDNORM) as i64, res2: 0 }.bytes()
    );
    assert_eq!(efd.ops().readiness(libc::POLLIN), libc::POLLIN);
    // The poller goes with the address space's contexts.
    let weak = Arc::downgrade(&table);
    drop(table);
    assert!(weak.upgrade().is_none());
}
