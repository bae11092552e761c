#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try profiles/slurm for real (Debian, as root).
#
#   scripts/slurm-local.sh start    # install slurm-wlm and munge if missing, start the daemons
#   scripts/slurm-local.sh status   # sinfo
#   scripts/slurm-local.sh stop     # stop the daemons this script started
#
# The node is this host with the CPUs and memory slurmd detects, in one partition `cpu`
# (default). The daemons talk over 127.0.0.1; there is no job accounting (so the profile's
# status command is squeue). State, logs and PID files live under $SLURM_LOCAL_DIR
# (default /var/tmp/bioclf-slurm). The configuration goes to /etc/slurm/slurm.conf, where the
# SLURM commands (and so Snakemake's plugin) look for it; a slurm.conf this script did not
# write is left alone and the script stops. Running `start` twice is harmless.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/var/tmp/bioclf-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by bioclf scripts/slurm-local.sh"

die() {
    echo "slurm-local: $*" >&2
    exit 1
}

running() { # pidfile
    [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v munged >/dev/null && command -v sinfo >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurm-wlm and munge are missing and apt-get is not here"
    echo "slurm-local: installing slurm-wlm and munge"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 600 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 755 /run/munge
    if ! munge -n </dev/null >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
        for _ in $(seq 20); do
            munge -n </dev/null >/dev/null 2>&1 && break
            sleep 0.5
        done
    fi
    munge -n </dev/null | unmunge >/dev/null || die "munged does not answer"
}

write_conf() {
    if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script: not touching it"
    fi
    local node host
    node=$(slurmd -C | head -1) # NodeName=<host> CPUs=... RealMemory=...
    host=$(hostname -s)
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" /etc/slurm
    cat >"$CONF.new" <<EOF
$MARK
ClusterName=bioclf
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# jobs stay visible to squeue for 5 min after they end (the profile polls with squeue)
MinJobAge=300
# bind to the address the host name resolves to (127.0.0.1 here), not to every interface
CommunicationParameters=NoInAddrAny
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.new" "$CONF"
}

start() {
    [[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts system daemons)"
    install_packages
    start_munge
    write_conf
    running "$DIR/slurmctld.pid" || slurmctld
    running "$DIR/slurmd.pid" || slurmd
    for _ in $(seq 30); do
        if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            sinfo
            return
        fi
        sleep 1
    done
    sinfo || true
    die "the node did not come up: see $DIR/log/"
}

stop() {
    local pidfile pid
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" /run/munge/munged.pid; do
        running "$pidfile" || continue
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 60); do # wait until it is gone, so that `start` can follow at once
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
    done
    echo "slurm-local: stopped"
}

case ${1:-start} in
start) start ;;
stop) stop ;;
status) sinfo ;;
*) die "usage: $0 [start|status|stop]" ;;
esac
