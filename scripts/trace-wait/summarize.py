"""Summarises scripts/trace-wait/run's output directory as one Markdown table.

usage: summarize.py OUT_DIR N
"""
import glob
import os
import re
import sys

out, N = sys.argv[1], int(sys.argv[2])
READS = {0, 45, 17, 19, 47}        # read, recvfrom, pread64, readv, recvmsg
WRITES = {1, 44, 18, 20, 46}       # write, sendto, pwrite64, writev, sendmsg


def ops_for(name):
    return N // 4 if name.endswith(('txn', 'watch', 'dir100')) else N


def perf_stat(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            f = line.strip().split(',')
            if len(f) > 3 and f[2] in ('context-switches', 'cpu-migrations', 'task-clock'):
                d[f[2]] = float(f[0])
    return d


def strace(path, n):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit():
                d[f[-1]] = int(f[3])
    return {k: v / n for k, v in d.items() if v >= n * 0.5}


def wakes(path):
    """(key -> (count, mean latency µs)); key = (wakee, waker syscall, same cpu, idle)."""
    res = {}
    if os.path.exists(path):
        text = open(path).read()
        for m in re.finditer(r'@lat_us\[(\d+)\]: count (\d+), average (\d+)', text):
            k = int(m[1])
            res[(k // 100000, (k // 100) % 1000, (k // 10) % 10, k % 10)] = (int(m[2]), int(m[3]))
    return res


def rate(path):
    if not os.path.exists(path):
        return '—'
    t = open(path).read().split()
    if 'ops/s' in t:
        return t[1]
    return '%.0f' % (int(t[0]) * 1e9 / int(t[1])) if len(t) >= 2 else '—'


def group(w, n, who, pred):
    sel = [(c, lat) for (d, why, same, idle), (c, lat) in w.items() if d == who and pred(why, same, idle)]
    count = sum(c for c, _ in sel)
    mean = sum(c * lat for c, lat in sel) / count if count else None
    return count / n, mean


def fmt(pair):
    per_op, mean = pair
    return f'{per_op:.2f}' + (f' ({mean:.0f})' if mean is not None else '')


names = sorted({os.path.basename(p).split('.')[0] for p in glob.glob(f'{out}/*.client.stat')})
print('| run | placement | ops/s while traced | client switches / op | client migrations / 1000 ops '
      '| daemon switches / op | client CPU µs / op | system calls / op | client wake-ups / op by the '
      "daemon's reply (mean latency µs) | client wake-ups / op by the daemon reading the request "
      '(write space) | share of client wake-ups on the other CPU / onto an idle CPU |')
print('|---|---|---:|---:|---:|---:|---:|---|---|---|---|')
for place in ('pinned', 'unpinned', 'split'):
    for name in names:
        tag = f'{name}.{place}'
        c = perf_stat(f'{out}/{tag}.client.stat')
        if not c:
            continue
        d = perf_stat(f'{out}/{tag}.daemon.stat')
        n = ops_for(name)
        calls = strace(f'{out}/{tag}.strace', n // 4)
        w = wakes(f'{out}/{tag}.bt')
        reply = group(w, n, 0, lambda why, s, i: why in WRITES)
        space = group(w, n, 0, lambda why, s, i: why in READS)
        total = group(w, n, 0, lambda why, s, i: True)[0]
        other = group(w, n, 0, lambda why, s, i: s == 0)[0]
        idle = group(w, n, 0, lambda why, s, i: i == 1)[0]
        share = f'{other / total:.0%} / {idle / total:.0%}' if total else '—'
        sc = ', '.join(f'{k} {v:.2f}' for k, v in sorted(calls.items(), key=lambda kv: -kv[1]))
        print(f"| {name} | {place} | {rate(f'{out}/{tag}.bt.out')} "
              f"| {c.get('context-switches', 0) / n:.2f} | {c.get('cpu-migrations', 0) / n * 1000:.1f} "
              f"| {d.get('context-switches', 0) / n:.2f} | {c.get('task-clock', 0) * 1000 / n:.1f} "
              f"| {sc} | {fmt(reply)} | {fmt(space)} | {share} |")
