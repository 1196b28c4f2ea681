#!/usr/bin/env bash
# check.sh - the whole suite, as CI runs it: the host tests (make test), then
# the kernel matrix (make vmtest, each guest run counted as one test). Ends
# with one closing line for both: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

make test 2>&1 | tee "$log"
host_rc=${PIPESTATUS[0]}
make vmtest 2>&1 | tee -a "$log"
vm_rc=${PIPESTATUS[0]}

# the last summary line of each part
sum() { grep -E "^$1[0-9]+ passed, [0-9]+ failed" "$log" | tail -1; }
host=$(sum "")
vm=$(sum "vmtest: ")
python3 - "$host" "$vm" "$host_rc" "$vm_rc" <<'PY'
import re, sys
tot = [0, 0, 0]
for part, rc in ((sys.argv[1], sys.argv[3]), (sys.argv[2], sys.argv[4])):
    m = re.search(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?", part)
    if not m:            # a part that printed no summary failed as a whole
        tot[1] += 1
        continue
    tot[0] += int(m.group(1)); tot[1] += int(m.group(2)); tot[2] += int(m.group(3) or 0)
    if rc != "0" and int(m.group(2)) == 0:
        tot[1] += 1      # it exited non-zero without naming a failure
print("%d passed, %d failed, %d skipped" % tuple(tot))
PY
[ "$host_rc" -eq 0 ] && [ "$vm_rc" -eq 0 ]
