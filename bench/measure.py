"""Runs a command under /usr/bin/time -v and samples the memory of its whole process tree every
0.2 s (/usr/bin/time's own figure is the largest single process, so it misses e.g. the Python
driver next to Spark's JVM). Each process counts with its PSS (proportional set size), so a
short-lived fork of the JVM (Hadoop's local file system forks for file permissions) that shares
the JVM's pages is not counted twice, as plain RSS would. Prints one JSON object:
    {"wall_s", "user_s", "sys_s", "cpu_s", "max_rss_parent_mb", "peak_tree_rss_mb", "exit"}

    python measure.py OUT.json -- command args...
"""

import json
import re
import subprocess
import sys
import time

import psutil


def tree_rss(root):
    """(total PSS of the tree, {process name: PSS in MB})."""
    total, parts = 0, {}
    try:
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, parts
    for p in procs:
        try:
            try:
                rss = p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                rss = p.memory_info().rss
            total += rss
            parts[f"{p.name()}[{p.pid}]"] = round(rss / 2**20, 1)
        except psutil.NoSuchProcess:
            pass
    return total, parts


def main():
    out, cmd = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    time_file = out + ".time"
    start = time.monotonic()
    child = subprocess.Popen(["/usr/bin/time", "-v", "-o", time_file] + cmd)
    root = psutil.Process(child.pid)
    peak, peak_parts = 0, {}
    while child.poll() is None:
        total, parts = tree_rss(root)
        if total > peak:
            peak, peak_parts = total, parts
        time.sleep(0.2)
    wall = time.monotonic() - start
    text = open(time_file).read()
    grab = lambda pattern: float(re.search(pattern + r":\s*([0-9.]+)", text).group(1))
    r = {"wall_s": round(wall, 3), "user_s": grab("User time \\(seconds\\)"), "sys_s": grab("System time \\(seconds\\)"),
         "max_rss_parent_mb": round(grab("Maximum resident set size \\(kbytes\\)") / 1024, 1),
         "peak_tree_rss_mb": round(peak / 2**20, 1), "peak_tree_mb_by_process": peak_parts,
         "exit": child.returncode}
    r["cpu_s"] = round(r["user_s"] + r["sys_s"], 2)
    r["peak_tree_rss_mb"] = max(r["peak_tree_rss_mb"], r["max_rss_parent_mb"])
    with open(out, "w") as f:
        json.dump(r, f)
    print(json.dumps(r))
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
