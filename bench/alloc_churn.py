# bench/alloc_churn.py - room: bench/. An allocation-heavy Python script for
# bench_preload.sh: dict, list, tuple and str churn with a fixed seed; prints
# a checksum that does not depend on the allocator. Usage: python3 alloc_churn.py [ROUNDS]
import random
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 18
rng = random.Random(1)
check = 0
table = {}
for r in range(rounds):
    # build: many short-lived small objects and a few big strings
    for i in range(20000):
        k = "key-%d-%d" % (rng.randrange(40000), i & 7)
        table[k] = [k * (1 + i % 4), (i, r), {"n": i, "s": k[:5]}]
    blob = "".join(str(x) for x in range(5000)) * (1 + r % 3)
    check += len(blob)
    # drop about half of it, in insertion order
    for k in list(table)[::2]:
        del table[k]
    words = sorted(k.upper() for k in table)
    check += len(words) + sum(len(w) for w in words[:100])
    check %= 1 << 61
print("alloc_churn:", rounds, "rounds, checksum", check, "live", len(table))
