//! System V IPC and POSIX message queues, end to end: each C program runs
//! natively (in an IPC namespace of its own) and in the sandbox, with
//! several processes sharing the objects, and must print the same.

mod common;

use common::*;

fn same_as_native(prog: &str) -> String {
    let bin = c_program(prog);
    let bin = bin.to_str().unwrap();
    let native = run_native(&[bin]);
    assert_eq!(status(&native), 0, "native {prog}: {}", stderr(&native));
    let inside = run_do(&[], &[bin]);
    assert_eq!(status(&inside), 0, "{prog} in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native), "{prog}");
    stdout(&inside)
}

#[test]
fn shared_memory_is_shared_by_forks_and_unrelated_attachers() {
    let out = same_as_native("sysv_shm");
    for line in [
        "child: futex word is 7\n",
        "exec'd child: reads \"from the parent\", nattch=2\n",
        "parent reads \"written after exec\"\n",
        "mprotect(read-only attachment, PROT_WRITE) = -1 EACCES\n",
        "user: shmat = -1 EACCES\n",
        "removed, attached: key=0 size=10000 mode=01640 nattch=1",
        "last detach: IPC_STAT = -1 EINVAL\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in:\n{out}");
    }
}

#[test]
fn semaphores_block_undo_and_wake_as_linux() {
    let out = same_as_native("sysv_sem");
    for line in [
        "nothing applied: 4 0 2\n",
        "child: semop(0 -1) with a signal = -1 EINTR\n",
        "undone at exit: 0 0 5\n",
        "child: semop(other 0 -1) as the set goes = -1 EIDRM\n",
        "semop(501 operations) = -1 E2BIG\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in:\n{out}");
    }
}

#[test]
fn message_queues_select_types_and_wait_both_ways() {
    let out = same_as_native("sysv_msg");
    for line in [
        "msgrcv(type -2) = 3: type 1 \"one\"\n",
        "msgrcv(size 4) = -1 E2BIG\n",
        "child: msgsnd(8 bytes), waiting = 0\n",
        "child: msgrcv with a signal = -1 EINTR\n",
        "owner: IPC_SET(qbytes above MSGMNB) = -1 EPERM\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in:\n{out}");
    }
}

#[test]
fn posix_message_queues_are_files_with_priorities_and_notifications() {
    let out = same_as_native("mqueue");
    for line in [
        "mq_receive = 10: \"high again\" prio 5\n",
        "epoll_wait = 1, events 0x1, data 7\n",
        "signal 10 code SI_MESGQ value 42 from the child: 1\n",
        "mq_notify(SIGEV_THREAD, a pipe) = -1 ENOTSOCK\n",
        "user: a second one, past RLIMIT_MSGQUEUE = -1 EMFILE\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in:\n{out}");
    }
}
