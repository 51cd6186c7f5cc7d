#!/usr/bin/env bash
# Usage: deploy/dev/free_port.sh
# Prints a TCP port on 127.0.0.1 that is free right now: the kernel picks it
# (bind to port 0) and we release it again. There is a small race window
# between printing and the caller binding the port; callers that start a
# server should retry on EADDRINUSE if they care.
set -euo pipefail

if [[ $# -ne 0 ]]; then
    echo "usage: $0" >&2
    exit 2
fi

# Debian's python3 on purpose: the python3 first on PATH may be another build.
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3 || true)
if [[ -z $py ]]; then
    echo "free_port.sh: python3 not found" >&2
    exit 1
fi

exec "$py" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
'
