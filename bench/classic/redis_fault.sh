#!/bin/bash
# The classic notify_fault script: two log lines.
LOGFILE="${CLASSIC_STATE_LOG:-/var/log/keepalived-redis-state.log}"
echo "[fault]" >> $LOGFILE
date >> $LOGFILE
