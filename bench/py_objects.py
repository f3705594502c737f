# bench/py_objects.py - room: bench/. A second allocation-heavy Python script
# for bench_preload.sh, of objects rather than containers: instances of a
# plain class (each with its __dict__) linked into binary search trees,
# tuples and small ints in a sort, a JSON round trip of nested dicts and
# lists, and regex matches producing many small strings. Fixed seed; prints a
# checksum that does not depend on the allocator.
# Usage: python3 py_objects.py [ROUNDS] [SIZE (objects per round, default 30000)]
import json
import random
import re
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
size = int(sys.argv[2]) if len(sys.argv) > 2 else 30000
rng = random.Random(7)


class Node:
    def __init__(self, key, val):
        self.key = key
        self.val = val
        self.left = None
        self.right = None


def insert(root, key, val):
    if root is None:
        return Node(key, val)
    n = root
    while True:
        if key < n.key:
            if n.left is None:
                n.left = Node(key, val)
                return root
            n = n.left
        else:
            if n.right is None:
                n.right = Node(key, val)
                return root
            n = n.right


def walk(root):
    out, stack, n = [], [], root
    while stack or n is not None:
        while n is not None:
            stack.append(n)
            n = n.left
        n = stack.pop()
        out.append((n.key, n.val))
        n = n.right
    return out


word = re.compile(r"[a-z]+[0-9]*")
check = 0
for r in range(rounds):
    root = None
    for i in range(size):
        root = insert(root, rng.random(), "v%d" % i)
    items = walk(root)
    check += len(items) + sum(len(v) for _, v in items[::97])
    pairs = sorted(((i * 7919) % 10007, -i) for i in range(size * 2))
    check += pairs[100][0] + pairs[-1][1]
    doc = {"r%d" % i: {"name": "n%d" % i, "tags": ["t%d" % (i % 13), "u%d" % (i % 7)],
                        "vals": [i, i * 2.5, None, True], "sub": {"a": i % 5}} for i in range(size * 4 // 15)}
    back = json.loads(json.dumps(doc, sort_keys=True))
    check += len(back) + sum(v["sub"]["a"] for v in back.values())
    text = " ".join("%s%d" % (chr(97 + i % 26) * (1 + i % 5), i % 100) for i in range(size * 4 // 3))
    toks = word.findall(text)
    check += len(toks) + len(set(toks))
    del root, items, pairs, doc, back, text, toks
    check %= 1 << 61
print("py_objects:", rounds, "rounds of", size, "objects, checksum", check)
