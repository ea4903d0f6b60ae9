#!/bin/sh
# Installs corekv on a Debian or Ubuntu host: the release binary, the corekv
# system user, its directories, the config file and the systemd units. Safe to
# run again: it only does what is not done yet (an existing config file is never
# overwritten; a changed binary or unit is replaced).
#
#   deploy/install.sh [--dry-run] [--binary PATH] [--with-sentinel]
#
#   --dry-run        print what would be done, change nothing
#   --binary PATH    the corekv-server to install
#                    (default: target/release/corekv-server; build it with
#                    cargo build --release -p corekv-server)
#   --with-sentinel  also the corekv-sentinel unit and /etc/corekv/sentinel
#                    (needs Debian's redis-sentinel: apt-get install redis-sentinel)
#
# Then: systemctl enable --now corekv  (and corekv-sentinel)
set -eu

KIT=$(cd "$(dirname "$0")" && pwd)
BINARY="$KIT/../target/release/corekv-server"
DRY_RUN=0
SENTINEL=0
USER_NAME=corekv
BIN_DIR=/usr/local/bin
CONF_DIR=/etc/corekv
DATA_DIR=/var/lib/corekv
UNIT_DIR=/etc/systemd/system
SENTINEL_BIN=/usr/bin/redis-sentinel

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --with-sentinel) SENTINEL=1 ;;
        --binary) shift; BINARY=${1:?--binary takes a path} ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

UNITS_CHANGED=0

# Runs a command, or prints it with --dry-run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: $*"
    else
        echo "running: $*"
        "$@"
    fi
}

ok() {
    echo "ok: $*"
}

# install_file MODE OWNER:GROUP SRC DEST: copies SRC unless DEST already has it.
install_file() {
    if [ -f "$4" ] && cmp -s "$3" "$4"; then
        ok "$4 is up to date"
        return 1
    fi
    run install -m "$1" -o "${2%:*}" -g "${2#*:}" "$3" "$4"
}

# install_once MODE OWNER:GROUP SRC DEST: copies SRC only if DEST does not exist.
install_once() {
    if [ -e "$4" ]; then
        ok "$4 exists, kept as it is"
        return 0
    fi
    run install -m "$1" -o "${2%:*}" -g "${2#*:}" "$3" "$4"
}

# make_dir MODE OWNER:GROUP DIR
make_dir() {
    if [ -d "$3" ]; then
        ok "$3 exists"
    else
        run install -d -m "$1" -o "${2%:*}" -g "${2#*:}" "$3"
    fi
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (or with --dry-run)" >&2
    exit 1
fi
if [ ! -x "$BINARY" ]; then
    if [ "$DRY_RUN" = 1 ]; then
        echo "note: $BINARY does not exist yet (cargo build --release -p corekv-server)"
    else
        echo "install.sh: no binary at $BINARY (cargo build --release -p corekv-server, or --binary PATH)" >&2
        exit 1
    fi
fi

# The user the server runs as: no login, no home of its own.
if getent passwd "$USER_NAME" > /dev/null 2>&1; then
    ok "user $USER_NAME exists"
else
    run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment corekv "$USER_NAME"
fi

make_dir 0755 root:root "$CONF_DIR"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA_DIR"

if [ -f "$BIN_DIR/corekv-server" ] && [ -f "$BINARY" ] && cmp -s "$BINARY" "$BIN_DIR/corekv-server"; then
    ok "$BIN_DIR/corekv-server is up to date"
else
    run install -m 0755 -o root -g root "$BINARY" "$BIN_DIR/corekv-server"
fi

# The config file belongs to the corekv user: CONFIG REWRITE (run by Sentinel
# after a failover) writes it.
install_once 0640 "$USER_NAME:$USER_NAME" "$KIT/corekv.conf" "$CONF_DIR/corekv.conf"

for unit in corekv.service corekv@.service; do
    if install_file 0644 root:root "$KIT/systemd/$unit" "$UNIT_DIR/$unit"; then
        UNITS_CHANGED=1
    fi
done

if [ "$SENTINEL" = 1 ]; then
    if [ -x "$SENTINEL_BIN" ]; then
        ok "$SENTINEL_BIN is installed"
    else
        run apt-get install -y redis-sentinel
    fi
    make_dir 0750 "$USER_NAME:$USER_NAME" "$CONF_DIR/sentinel"
    install_once 0640 "$USER_NAME:$USER_NAME" "$KIT/sentinel.conf" "$CONF_DIR/sentinel/sentinel.conf"
    if install_file 0644 root:root "$KIT/systemd/corekv-sentinel.service" "$UNIT_DIR/corekv-sentinel.service"; then
        UNITS_CHANGED=1
    fi
fi

if [ "$UNITS_CHANGED" = 1 ]; then
    run systemctl daemon-reload
else
    ok "systemd units unchanged"
fi

echo "next: review $CONF_DIR/corekv.conf and deploy/tuning.md, then systemctl enable --now corekv"
