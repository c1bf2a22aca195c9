"""The pyxs side of the benchmarks (see scripts/bench).

    XENSTORED_PATH=SOCKET /usr/bin/python3 pyxs_bench.py WORKLOAD MODE VALUE WARMUP

WORKLOAD: read | write | dir100 | txn | watch | walk
MODE:     secs (run for VALUE seconds) | ops (run exactly VALUE operations)
WARMUP:   operations done first, untimed

Prints one line "OPS NANOSECONDS CPU_NANOSECONDS" for the timed part
(connection set-up and warm-up excluded; CPU time is user + system of all
threads, including pyxs's router thread). Needs Debian's python3-pyxs, i.e. /usr/bin/python3.
In secs mode two more numbers follow, "P50_NS P99_NS": the latency
percentiles of one operation (nearest rank, as xs-bench's latency.rs; each
operation ends at the clock read that decides when to stop).
"""
import os
import sys
import time

from pyxs import Client

READ_PATH = b"/bench/seq/key"
READ_VALUE = b"value-0123456789abcdef"
WRITE_PATH = b"/bench/seq/w"
DIR_PATH = b"/bench/dir100"
TXN_PATH = b"/bench/txn/key"
WATCH_DIR = b"/bench/watch/p"
WATCH_NODE = b"/bench/watch/p/node"
TREE_PATH = b"/bench/tree"


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: pyxs_bench.py WORKLOAD secs|ops VALUE WARMUP")
    workload, mode, value, warmup = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    if mode not in ("secs", "ops"):
        sys.exit("pyxs_bench: MODE must be secs or ops")

    with Client(unix_socket_path=os.environ["XENSTORED_PATH"]) as c:
        if workload == "read":
            def op():
                if len(c.read(READ_PATH)) != len(READ_VALUE):
                    sys.exit("pyxs_bench: unexpected value")
        elif workload == "write":
            def op():
                c.write(WRITE_PATH, READ_VALUE)
        elif workload == "dir100":
            def op():
                if len(c.list(DIR_PATH)) != 100:
                    sys.exit("pyxs_bench: expected 100 children")
        elif workload == "txn":
            def op():
                c.transaction()
                c.write(TXN_PATH, READ_VALUE)
                c.commit()
        elif workload == "watch":
            c.write(WATCH_NODE, b"x")
            m = c.monitor()
            m.watch(WATCH_DIR, b"bench")
            events = m.wait()
            next(events)  # the event fired at registration

            def op():
                c.write(WATCH_NODE, b"x")
                next(events)
        elif workload == "walk":
            def op():
                n = 0
                for _ in c.walk(TREE_PATH):
                    n += 1
                if n < 2:
                    sys.exit("pyxs_bench: tree has %d nodes" % n)
        else:
            sys.exit("pyxs_bench: unknown workload " + workload)

        for _ in range(warmup):
            op()
        ops = 0
        clock = time.perf_counter_ns
        # Latency samples (secs mode only), allocated before the clock starts.
        room = min(int(max(value, 0) * MAX_RATE) + 1024, MAX_SAMPLES) if mode == "secs" else 0
        samples = [0] * room
        cpu = time.process_time_ns()
        start = clock()
        if mode == "secs":
            limit = int(value * 1e9)
            last = start
            while True:
                op()
                end = clock()
                if ops < room:
                    samples[ops] = end - last
                last = end
                ops += 1
                if end - start >= limit:
                    break
        else:
            for _ in range(int(value)):
                op()
            ops = int(value)
            end = clock()
        cpu = time.process_time_ns() - cpu
        latencies = sorted(samples[:min(ops, room)])
        extra = [percentile(latencies, 50), percentile(latencies, 99)] if latencies else []
        print(ops, end - start, cpu, *extra, flush=True)


MAX_RATE = 250000
MAX_SAMPLES = 1 << 22


def percentile(ascending, p):
    """Nearest rank: the sample at rank ceil(p * n / 100), at least 1."""
    rank = max(1, (p * len(ascending) + 99) // 100)
    return ascending[rank - 1]


if __name__ == "__main__":
    main()
