# Imports and uses modules that need threads, shared memory across
# fork (multiprocessing), epoll (asyncio), sockets and subprocesses.
import json, sqlite3, decimal, asyncio, threading, multiprocessing, subprocess, os
print(json.dumps({"k": [1, 2]}))
db = sqlite3.connect(":memory:"); db.execute("create table t(x)"); db.executemany("insert into t values(?)", [(i,) for i in range(10)])
print("sum", db.execute("select sum(x) from t").fetchone()[0])
print(decimal.Decimal("1.1") + decimal.Decimal("2.2"))
async def main():
    r = await asyncio.gather(*(asyncio.sleep(0.01, result=i) for i in range(3)))
    return sum(r)
print("async", asyncio.run(main()))
out = []
ts = [threading.Thread(target=lambda i=i: out.append(i * i)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("threads", sorted(out))
def sq(x): return x * x
if __name__ == "__main__":
    with multiprocessing.Pool(2) as p:
        print("pool", p.map(sq, range(5)))
    print(subprocess.run(["/bin/echo", "from child"], capture_output=True, text=True).stdout.strip())
    print("exit", subprocess.run(["/bin/sh", "-c", "exit 4"]).returncode)
