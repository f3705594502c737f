# bench/gen_inputs.py - room: bench/. Writes the inputs of bench_preload.sh's
# real-program workloads into OUTDIR, deterministically (fixed seeds, fixed
# dates), run once and plainly (no preload) before any measurement:
#
#   big.c         a C file of NFUNC functions with loops, branches and a switch (gcc -O2)
#   lines.txt     NLINES random words with a number each (sort)
#   xz.in         XZ_KIB KiB of text with repeats, for xz to compress
#   db.sql        sqlite3 script: a table filled by SQL_ROWS single-row INSERTs in
#                 one transaction, an index, then grouping, sorting, join and
#                 LIKE queries whose results are printed
#   repo/         a git repository of GIT_COMMITS commits over GIT_FILES files
#                 (git fast-import; fixed author and dates), for git log -p and
#                 git pack-objects
#
# Usage: gen_inputs.py OUTDIR quick|full
import os
import random
import subprocess
import sys

out, mode = sys.argv[1], sys.argv[2]
quick = mode == "quick"
NFUNC = 6 if quick else 40
NLINES = 60000 if quick else 400000
XZ_KIB = 96 if quick else 640
SQL_ROWS = 5000 if quick else 40000
GIT_FILES, GIT_COMMITS = (60, 80) if quick else (200, 800)

rng = random.Random(3)
al = "abcdefghijklmnopqrstuvwxyz0123456789"


def w(name, text):
    with open(os.path.join(out, name), "w") as f:
        f.write(text)


# ---- big.c -------------------------------------------------------------------
parts = ["#include <string.h>\nstruct rec { int a, b; double w; char name[24]; };\n"]
for i in range(NFUNC):
    parts.append(f"""int f{i}(struct rec *r, int n, const char *s)
{{
    int acc = {i};
    for (int k = 0; k < n; k++) {{
        switch ((r[k].a + k) % 5) {{
        case 0: acc += r[k].b * {i % 7 + 2}; break;
        case 1: acc ^= (int)(r[k].w * {i % 5 + 1}.5); break;
        case 2: acc -= (int)strlen(r[k].name) + k; break;
        case 3: if (s && s[k % 8] == 'x') acc <<= 1; else acc >>= 1; break;
        default: r[k].w += acc * 0.5; memcpy(r[k].name, s ? s : "none", 5);
        }}
        if (acc > {i * 1000 + 7}) acc = acc % {i + 3} + f{max(i - 1, 0)}(r + 1, n / 2, s);
    }}
    return acc;
}}
""")
w("big.c", "".join(parts))

# ---- lines.txt ---------------------------------------------------------------
w("lines.txt", "".join("%s %d\n" % ("".join(rng.choice(al) for _ in range(rng.randrange(4, 40))), i)
                       for i in range(NLINES)))

# ---- xz.in: words from a small vocabulary, so it compresses like text ----------
vocab = ["".join(rng.choice(al[:26]) for _ in range(rng.randrange(2, 11))) for _ in range(3000)]
chunks, size = [], 0
while size < XZ_KIB * 1024:
    line = " ".join(rng.choice(vocab) for _ in range(rng.randrange(3, 16))) + "\n"
    chunks.append(line)
    size += len(line)
w("xz.in", "".join(chunks))

# ---- db.sql --------------------------------------------------------------------
sql = ["CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, note TEXT);",
       "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);", "BEGIN;"]
for g in range(200):
    sql.append("INSERT INTO grp VALUES(%d, 'group-%s');" % (g, "".join(rng.choice(al) for _ in range(8))))
for i in range(SQL_ROWS):
    name = "".join(rng.choice(al) for _ in range(rng.randrange(5, 30)))
    note = " ".join(rng.choice(vocab) for _ in range(rng.randrange(1, 12)))
    sql.append("INSERT INTO item(name, grp, val, note) VALUES('%s', %d, %d.%02d, '%s');"
               % (name, rng.randrange(200), rng.randrange(100000), rng.randrange(100), note))
sql += ["COMMIT;",
        "CREATE INDEX item_grp ON item(grp, val);",
        "CREATE INDEX item_name ON item(name);",
        "SELECT grp, count(*), round(sum(val), 2), min(name), max(name) FROM item GROUP BY grp ORDER BY grp;",
        "SELECT g.label, count(*), round(avg(i.val), 3) FROM item i JOIN grp g ON g.id = i.grp "
        "WHERE i.val > 50000 GROUP BY g.label ORDER BY 2 DESC, 1 LIMIT 50;",
        "SELECT id, name, note FROM item WHERE note LIKE '%a%b%' ORDER BY length(note) DESC, id LIMIT 200;",
        "SELECT name, val FROM item ORDER BY name LIMIT 500 OFFSET 1000;",
        "UPDATE item SET note = note || ' ' || name WHERE grp % 7 = 3;",
        "DELETE FROM item WHERE val < 20000;",
        "SELECT count(*), round(sum(length(note)), 0), group_concat(substr(name, 1, 2), '') "
        "FROM (SELECT * FROM item ORDER BY id LIMIT 3000);",
        "SELECT a.grp, count(*) FROM item a WHERE a.val > (SELECT avg(b.val) FROM item b WHERE b.grp = a.grp) "
        "GROUP BY a.grp ORDER BY a.grp;"]
w("db.sql", "\n".join(sql) + "\n")

# ---- git repository --------------------------------------------------------------
files = {"src/f%03d.c" % i: ["line %d of file %d: %s" % (k, i, " ".join(rng.choice(vocab) for _ in range(6)))
                             for k in range(rng.randrange(20, 120))] for i in range(GIT_FILES)}
stream = []
t = 1700000000
for c in range(GIT_COMMITS):
    changed = rng.sample(sorted(files), 1 + rng.randrange(6)) if c else sorted(files)
    stream.append("commit refs/heads/main\nmark :%d\n" % (c + 1))
    stream.append("author Bench <bench@example.org> %d +0000\ncommitter Bench <bench@example.org> %d +0000\n"
                  % (t + c * 60, t + c * 60))
    msg = "change %d: %s\n" % (c, " ".join(rng.choice(vocab) for _ in range(8)))
    stream.append("data %d\n%s" % (len(msg.encode()), msg))
    if c:
        stream.append("from :%d\n" % c)
    for path in changed:
        lines = files[path]
        if c:
            for _ in range(1 + rng.randrange(4)):
                k = rng.randrange(len(lines) + 1)
                op = rng.randrange(3)
                new = "edit %d: %s" % (c, " ".join(rng.choice(vocab) for _ in range(rng.randrange(2, 9))))
                if op == 0 or k == len(lines):
                    lines.insert(k, new)
                elif op == 1 and len(lines) > 5:
                    del lines[k]
                else:
                    lines[k] = new
        data = ("\n".join(lines) + "\n").encode()
        stream.append("M 100644 inline %s\ndata %d\n" % (path, len(data)))
        stream.append(data.decode() + "\n")
repo = os.path.join(out, "repo")
env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=out, LC_ALL="C")
subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, env=env)
subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], input="".join(stream).encode(),
               check=True, env=env)
