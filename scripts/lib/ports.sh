# Sourced by the scripts that start servers on loopback (bench, leak check,
# allocation count): a free port, and waiting until something accepts on one.

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [TRIES] [SECONDS_BETWEEN]: returns 0 once 127.0.0.1:PORT
# accepts, 1 (with a message) after TRIES attempts (default 100 x 0.1 s).
wait_port() {
    local tries=${2:-100} pause=${3:-0.1}
    for _ in $(seq 1 "$tries"); do
        (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
        sleep "$pause"
    done
    echo "nothing listens on port $1" >&2
    return 1
}
