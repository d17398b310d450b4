#!/bin/bash
# The classic notify_stop script: two log lines.
LOGFILE="${CLASSIC_STATE_LOG:-/var/log/keepalived-redis-state.log}"
echo "[stop]" >> $LOGFILE
date >> $LOGFILE
