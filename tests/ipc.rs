//! System V IPC and POSIX message queues, end to end: each C program runs
//! natively (in an IPC namespace of its own) and in the sandbox, with
//! several processes sharing the objects, and must print the same; then
//! real users of them: PostgreSQL (a System V segment, shared memory and
//! semaphores between its processes) and Python's multiprocessing.

mod common;

use common::*;

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

/// The newest PostgreSQL server's programs (`scripts/setup` installs them).
fn postgres_bin() -> String {
    let root = std::path::Path::new("/usr/lib/postgresql");
    let mut bins: Vec<_> = std::fs::read_dir(root)
        .expect("PostgreSQL must be installed (scripts/setup)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    bins.sort();
    bins.pop().expect("no PostgreSQL server under /usr/lib/postgresql").to_string_lossy().into_owned()
}

/// The uid and gid of `user`, from /etc/passwd (the sandbox's is the
/// host's).
fn user_ids(user: &str) -> (String, String) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .unwrap_or_else(|| panic!("no user {user} (scripts/setup installs PostgreSQL, which makes it)"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].to_owned(), f[3].to_owned())
}

#[test]
fn postgresql_initializes_serves_and_stops_as_a_user() {
    let bin = postgres_bin();
    let (uid, gid) = user_ids("postgres");
    let as_user = c_program("as_user");
    let script = format!(
        r#"B={bin}
        $B/initdb -D /tmp/pg -A trust -U postgres > /tmp/initdb.log 2>&1 || {{ cat /tmp/initdb.log >&2; exit 1; }}
        echo initdb done
        $B/pg_ctl -D /tmp/pg -l /tmp/pg.log -w -o '-k /tmp -c listen_addresses=""' start > /dev/null || {{ cat /tmp/pg.log >&2; exit 2; }}
        echo started
        $B/psql -X -A -t -h /tmp -U postgres -c 'create table t(x int)' -c 'insert into t select generate_series(1,10000)' -c 'select count(*) from t' postgres || exit 3
        $B/pg_ctl -D /tmp/pg -w stop > /dev/null || {{ cat /tmp/pg.log >&2; exit 4; }}
        echo stopped"#
    );
    let o = run_do(&[], &[as_user.to_str().unwrap(), &uid, &gid, "/bin/sh", "-c", &script]);
    assert_eq!(
        stdout(&o),
        "initdb done\nstarted\nCREATE TABLE\nINSERT 0 10000\n10000\nstopped\n",
        "status {}: {}",
        status(&o),
        stderr(&o)
    );
}

/// pgbench's TPC-B-like transactions from four clients at once (each
/// updates an account, a teller and a branch and appends to the history,
/// the two branches of scale 2 contended by all): first over the Unix
/// socket, then with prepared statements over TCP on the sandbox's
/// loopback. None may fail, and afterwards every balance total must equal
/// the history's total of deltas, with one history row per transaction.
/// A fixed number of transactions (`-t`), so nothing depends on speed.
#[test]
fn postgresql_pgbench_transactions_add_up_under_concurrent_load() {
    let bin = postgres_bin();
    let (uid, gid) = user_ids("postgres");
    let as_user = c_program("as_user");
    let script = format!(
        r#"B={bin}
        cd /tmp
        fail() {{ cat "$2" >&2; exit $1; }}
        $B/initdb -D /tmp/pg -A trust -U postgres > /tmp/initdb.log 2>&1 || fail 1 /tmp/initdb.log
        $B/pg_ctl -D /tmp/pg -l /tmp/pg.log -w -o '-k /tmp -c listen_addresses=127.0.0.1' start > /dev/null || fail 2 /tmp/pg.log
        $B/pgbench -h /tmp -U postgres -i -s 2 -q postgres > /tmp/init.log 2>&1 || fail 3 /tmp/init.log
        check() {{
            $B/psql -X -A -t -h $1 -U postgres postgres -c 'select count(*),
                sum(delta) = (select sum(abalance) from pgbench_accounts)
                and sum(delta) = (select sum(tbalance) from pgbench_tellers)
                and sum(delta) = (select sum(bbalance) from pgbench_branches)
                from pgbench_history'
        }}
        summary() {{ grep -E '^number of (transactions actually processed|failed transactions)' $1; }}
        $B/pgbench -h /tmp -U postgres -c 4 -j 2 -t 200 postgres > /tmp/run1.log 2>&1 || fail 4 /tmp/run1.log
        summary /tmp/run1.log
        check /tmp
        $B/pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 4 -j 2 -t 100 postgres > /tmp/run2.log 2>&1 || fail 5 /tmp/run2.log
        summary /tmp/run2.log
        check 127.0.0.1
        $B/pg_ctl -D /tmp/pg -w stop > /dev/null || fail 6 /tmp/pg.log
        grep -E ' (ERROR|PANIC): ' /tmp/pg.log
        echo stopped"#
    );
    let mut cmd = do_command();
    cmd.args(["--", as_user.to_str().unwrap(), &uid, &gid, "/bin/sh", "-c", &script]);
    // Well over the half minute it takes under ptrace on two busy cores:
    // only a hang should reach it.
    let o = run_with_limit(cmd, std::time::Duration::from_secs(240));
    assert_eq!(
        stdout(&o),
        "number of transactions actually processed: 800/800\n\
         number of failed transactions: 0 (0.000%)\n\
         800|t\n\
         number of transactions actually processed: 400/400\n\
         number of failed transactions: 0 (0.000%)\n\
         1200|t\n\
         stopped\n",
        "status {}: {}",
        status(&o),
        stderr(&o)
    );
}

#[test]
fn python_multiprocessing_locks_semaphores_and_queues() {
    let script = r#"
import multiprocessing as mp

def work(lock, sem, counter, n):
    for _ in range(n):
        with sem:
            with lock:
                counter.value += 1

if __name__ == "__main__":
    mp.set_start_method("fork")
    lock, sem = mp.Lock(), mp.Semaphore(2)
    counter = mp.Value("i", 0, lock=False)
    procs = [mp.Process(target=work, args=(lock, sem, counter, 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    q = mp.Queue()
    p = mp.Process(target=q.put, args=("queued",))
    p.start()
    print(q.get(), counter.value, [p.exitcode for p in procs])
    p.join()
"#;
    let o = run_do(&[], &["/usr/bin/python3", "-c", script]);
    assert_eq!(stdout(&o), "queued 2000 [0, 0, 0, 0]\n", "status {}: {}", status(&o), stderr(&o));
}
