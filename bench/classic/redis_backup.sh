#!/bin/bash
# The classic notify_backup script of the how-to articles: replicate the
# peer (on the default local port; the script passes no -h/-p to redis-cli),
# then sleep 100 s. Kept as published, including the final "exit(0)", which
# bash rejects as a syntax error after the sleep; only redis-cli comes from
# PATH and the log file can be moved with CLASSIC_STATE_LOG.
#
# usage: redis_backup.sh LOCAL_HOST PEER_HOST PORT
REDISCLI="${REDIS_CLI:-redis-cli}"
LOGFILE="${CLASSIC_STATE_LOG:-/var/log/keepalived-redis-state.log}"
echo "[BACKUP]" >> $LOGFILE
date >> $LOGFILE
echo "Being slave...." >> $LOGFILE 2>&1
echo "Run SLAVEOF cmd ..." >> $LOGFILE 2>&1
$REDISCLI SLAVEOF $2 $3 >> $LOGFILE
sleep 100
exit(0)
