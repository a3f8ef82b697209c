# shellcheck shell=bash
# Throwaway PostgreSQL 15 + PostGIS cluster for the test suite.
#
# Usage (from the test command, any working directory, root or not):
#   source scripts/pg-test-cluster.sh
#   pg_test_start target/pg-test     # exports KINGA_TEST_DATABASE_URL
#   ... run tests ...
#   pg_test_stop target/pg-test
#
# Sourcing only defines pg_test_start and pg_test_stop. Each does its work in
# a subshell (so helpers, `cd` and option changes never leak into the caller)
# and returns non-zero with a "[pg-test] ERROR:" line on stderr on any failure.
#
# Which server binaries: Debian's /usr/lib/postgresql/15/bin. Debian's
# postgresql-15-postgis-3 package installs postgis-3.so into that build's
# pkglibdir (/usr/lib/postgresql/15/lib) and postgis.control into its sharedir
# (/usr/share/postgresql/15/extension), and is compiled against that exact
# server, so only that build can load it. (On the dev/CI image,
# /usr/local/bin/{initdb,pg_ctl,postgres} are just symlinks to it; a
# different build found on PATH would look for extensions in its own
# directories, so it is not used.) /usr/bin/psql etc. are Debian's
# pg_wrapper, so the client binaries from the same directory are used too.
#
# The URL exported is
#   postgres://kinga@localhost:5432/kinga_test?host=/abs/DIR/sock&sslmode=disable
# sqlx-postgres 0.9 (src/options/parse.rs) treats a `host` query value that
# starts with '/' as the unix-socket directory and connects to
# {host}/.s.PGSQL.{port}; libpq/psql read the URL the same way. The port and
# sslmode are spelled out so that PGPORT / PGSSLMODE in the environment cannot
# redirect the tests (sqlx falls back to those variables).

pg_test_stop() {
    (
        set +e # the caller may run with `set -e`; failures are handled explicitly
        die() { printf '[pg-test] ERROR: %s\n' "$*" >&2; exit 1; }
        say() { printf '[pg-test] %s\n' "$*" >&2; }

        [ "$#" -eq 1 ] && [ -n "$1" ] || die "usage: pg_test_stop DIR"
        [ -d "$1" ] || { say "no cluster dir $1; nothing to stop"; exit 0; }
        dir=$(cd -- "$1" && pwd -P) || die "cannot resolve $1"
        data=$dir/data
        cd / || die "cannot cd /"

        pidfile=$data/postmaster.pid
        if [ ! -f "$pidfile" ]; then
            say "no server running in $dir"
            exit 0
        fi
        pid=$(head -n 1 "$pidfile" 2>/dev/null)
        case $pid in '' | *[!0-9]*) pid= ;; esac

        # Is that pid really the postmaster of *this* data dir? (The postmaster
        # chdirs into its data directory, so /proc/PID/cwd identifies it; a
        # stale pid file after a crash may name an unrelated, reused pid.)
        alive=no
        if [ -n "$pid" ] && [ -d "/proc/$pid" ] &&
            [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ]; then
            alive=yes
        fi
        if [ "$alive" = no ]; then
            say "stale postmaster.pid in $data (pid ${pid:-?} is not running it); removing it"
            rm -f -- "$pidfile" || die "cannot remove stale $pidfile"
            exit 0
        fi

        bindir=$(cat "$dir/bindir" 2>/dev/null)
        [ -n "$bindir" ] || bindir=/usr/lib/postgresql/15/bin
        [ -x "$bindir/pg_ctl" ] || die "pg_ctl not found in $bindir"
        owner=$(stat -c %U "$data") || die "cannot stat $data"

        say "stopping server (pid $pid) in $dir"
        if [ "$(id -u)" -eq 0 ] && [ "$owner" != root ]; then
            runuser -u "$owner" -- "$bindir/pg_ctl" -s -D "$data" -m fast -w -t 60 stop >&2
        else
            "$bindir/pg_ctl" -s -D "$data" -m fast -w -t 60 stop >&2
        fi
        rc=$?
        if [ -d "/proc/$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ]; then
            die "server pid $pid in $data is still running after pg_ctl stop (rc=$rc); see $dir/postgres.log"
        fi
        if [ -L "$dir/sock" ]; then # short /tmp socket dir (see pg_test_start)
            old=$(readlink "$dir/sock")
            case $old in /tmp/kinga-pg.*) rm -rf -- "$old" ;; esac
        fi
        say "stopped"
        exit 0
    )
}

pg_test_start() {
    local url
    url=$(
        # stdout carries only the URL (via fd 3); all chatter goes to stderr.
        # Anything that may leave a daemon behind (pg_ctl start, apt-get)
        # runs with `3>&-`, or the daemon would hold the $(...) pipe open
        # and pg_test_start would never return.
        exec 3>&1 1>&2
        set +e         # the caller may run with `set -e`; failures are handled explicitly
        die() { printf '[pg-test] ERROR: %s\n' "$*" >&2; exit 1; }
        say() { printf '[pg-test] %s\n' "$*" >&2; }

        [ "$#" -eq 1 ] && [ -n "$1" ] || die "usage: pg_test_start DIR (a directory under target/)"
        dir=$(realpath -m -- "$1") || die "cannot resolve $1"
        # DIR is wiped below: refuse anything that is not inside a target/ dir.
        case $dir in
            */target/?*) ;;
            *) die "refusing to use $dir: DIR must be a directory under the repo's target/" ;;
        esac
        mkdir -p -- "$dir" || die "cannot create $dir"
        cd / || die "cannot cd /" # postgres binaries must be able to getcwd()
        t0=$SECONDS

        # --- 1. PostgreSQL 15 + PostGIS (see the header for why this bindir) ---
        bindir=/usr/lib/postgresql/15/bin
        sharedir=/usr/share/postgresql/15
        if [ -x "$bindir/pg_config" ]; then
            sharedir=$("$bindir/pg_config" --sharedir) || die "$bindir/pg_config --sharedir failed"
        fi
        if [ ! -x "$bindir/postgres" ] || [ ! -f "$sharedir/extension/postgis.control" ]; then
            [ "$(id -u)" -eq 0 ] ||
                die "PostGIS for PostgreSQL 15 is missing ($sharedir/extension/postgis.control) and installing it needs root: apt-get install postgresql-15-postgis-3"
            say "PostGIS missing: installing postgresql-15-postgis-3 with apt-get (takes a minute)"
            aptlog=$(mktemp /tmp/kinga-pg-apt.XXXXXX) || die "mktemp failed"
            export DEBIAN_FRONTEND=noninteractive
            if ! apt-get -o DPkg::Lock::Timeout=300 update </dev/null >"$aptlog" 2>&1 3>&-; then
                tail -n 20 "$aptlog" >&2
                die "apt-get update failed (full log: $aptlog)"
            fi
            if ! apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
                postgresql-15-postgis-3 </dev/null >>"$aptlog" 2>&1 3>&-; then
                tail -n 20 "$aptlog" >&2
                die "apt-get install postgresql-15-postgis-3 failed (full log: $aptlog)"
            fi
            rm -f -- "$aptlog"
            sharedir=$("$bindir/pg_config" --sharedir) || die "$bindir/pg_config missing after install"
            [ -f "$sharedir/extension/postgis.control" ] ||
                die "postgresql-15-postgis-3 installed but $sharedir/extension/postgis.control is still missing"
            say "installed PostGIS in $((SECONDS - t0))s"
        fi
        for b in initdb pg_ctl postgres psql pg_isready; do
            [ -x "$bindir/$b" ] || die "$bindir/$b not found"
        done
        "$bindir/postgres" --version | grep -q ' 15\.' ||
            die "$bindir/postgres is not PostgreSQL 15: $("$bindir/postgres" --version)"

        # --- 2. who runs the server (initdb/postgres refuse to run as root) ---
        if [ "$(id -u)" -eq 0 ]; then
            if id -u postgres >/dev/null 2>&1; then
                pguser=postgres
            else
                pguser=kinga-test
                if ! id -u "$pguser" >/dev/null 2>&1; then
                    say "creating system user $pguser"
                    useradd --system --user-group --no-create-home --home-dir / \
                        --shell /usr/sbin/nologin "$pguser" || die "useradd $pguser failed"
                fi
            fi
            as_pg() { runuser -u "$pguser" -- "$@"; }
        else
            pguser=$(id -un)
            as_pg() { "$@"; }
        fi

        # --- 6. a cluster left over from a previous (possibly crashed) run ---
        pg_test_stop "$dir" || die "could not stop the previous cluster in $dir"
        if [ -L "$dir/sock" ]; then # a /tmp socket dir from a previous run (see below)
            old=$(readlink "$dir/sock")
            case $old in /tmp/kinga-pg.*) rm -rf -- "$old" ;; esac
        fi

        # --- wipe DIR, hand only DIR to the server user ---
        say "fresh cluster in $dir (server runs as $pguser)"
        find "$dir" -mindepth 1 -delete || die "cannot wipe $dir"
        if [ "$(id -u)" -eq 0 ]; then
            chown "$pguser:" "$dir" || die "cannot chown $dir to $pguser"
            chmod 0700 "$dir" || die "cannot chmod $dir"
            # The server user must be able to reach DIR: add only the search
            # bit, only on the ancestors it cannot already traverse.
            p=$dir
            while [ "$p" != / ]; do
                p=$(dirname -- "$p")
                if ! runuser -u "$pguser" -- test -x "$p"; then
                    say "granting o+x on $p so $pguser can reach $dir"
                    chmod o+x -- "$p" || die "cannot chmod o+x $p"
                fi
            done
        fi
        as_pg test -w "$dir" || die "$pguser cannot write $dir"
        printf '%s\n' "$bindir" >"$dir/bindir" || die "cannot write $dir/bindir"

        # Unix socket paths are limited to 107 bytes (sun_path) including the
        # "/.s.PGSQL.5432" file name. If DIR/sock would be too long, put the
        # socket in a short mktemp dir under /tmp and make DIR/sock a symlink
        # to it (so it is found and removed on the next start).
        sock=$dir/sock
        if [ $((${#sock} + 14)) -gt 107 ]; then
            sock=$(mktemp -d /tmp/kinga-pg.XXXX) || die "mktemp failed"
            chown "$pguser:" "$sock" 2>/dev/null
            ln -s -- "$sock" "$dir/sock" || die "cannot link $dir/sock"
            say "$dir/sock is too long for a unix socket; using $sock"
        else
            as_pg mkdir -- "$sock" || die "cannot create $sock"
        fi
        # private: only the server user (and root) can reach the socket, which
        # is what makes trust authentication on it acceptable.
        chmod 0700 "$sock" || die "cannot chmod $sock"

        # --- initdb: bootstrap superuser `kinga`, trust on the private socket ---
        data=$dir/data
        if ! as_pg "$bindir/initdb" -D "$data" -U kinga -A trust -E UTF8 --locale=C \
            --no-sync >"$dir/initdb.log" 2>&1; then
            tail -n 20 "$dir/initdb.log" >&2
            die "initdb failed (log: $dir/initdb.log)"
        fi
        # --no-sync above only skips flushing initdb's own files; the server
        # below runs with the durability settings the app insists on.
        sq=$(printf '%s' "$sock" | sed "s/'/''/g")
        cat >>"$data/postgresql.conf" <<EOF || die "cannot write $data/postgresql.conf"

# --- kinga throwaway test cluster (scripts/pg-test-cluster.sh) ---
listen_addresses = ''
unix_socket_directories = '$sq'
unix_socket_permissions = 0700
port = 5432
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 32MB
max_connections = 100
logging_collector = off
EOF

        # --- 3. start and wait until ready ---
        if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start </dev/null >/dev/null 3>&-; then
            tail -n 20 "$dir/postgres.log" >&2
            die "pg_ctl start failed (log: $dir/postgres.log)"
        fi
        "$bindir/pg_isready" -q -h "$sock" -p 5432 -t 30 ||
            die "server in $dir started but is not accepting connections on $sock"

        # --- 4. database + PostGIS ---
        q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p 5432 -U kinga "$@" </dev/null; }
        q -d postgres -c 'CREATE DATABASE kinga_test' || die "CREATE DATABASE kinga_test failed"
        q -d kinga_test -c 'CREATE EXTENSION postgis' ||
            die "CREATE EXTENSION postgis failed (see $dir/postgres.log)"
        checks=$(q -d kinga_test -At -c "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes'), postgis_lib_version()") ||
            die "sanity query failed"
        case $checks in
            'on|on|on|'?*) ;;
            *) die "unexpected settings (fsync|synchronous_commit|full_page_writes|postgis): $checks" ;;
        esac

        # --- 5. URL (query value percent-encoded, '/' kept) ---
        enc=
        LC_ALL=C # byte-wise, so non-ASCII paths are encoded as UTF-8 bytes
        s=$sock
        while [ -n "$s" ]; do
            c=${s:0:1}
            s=${s:1}
            case $c in
                [A-Za-z0-9/._~-]) enc+=$c ;;
                *) enc+=$(printf '%%%02X' "'$c") ;;
            esac
        done
        say "ready in $((SECONDS - t0))s: PostGIS ${checks##*|}, socket $sock"
        printf 'postgres://kinga@localhost:5432/kinga_test?host=%s&sslmode=disable\n' "$enc" >&3
    ) || return 1
    [ -n "$url" ] || { printf '[pg-test] ERROR: no URL produced\n' >&2; return 1; }
    export KINGA_TEST_DATABASE_URL="$url"
}
