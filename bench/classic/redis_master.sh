#!/bin/bash
# The classic notify_master script of the how-to articles: replicate the peer
# for a fixed 10 s "so the data can sync", then promote. Nothing checks that
# the sync happened. Kept as published, except that redis-cli comes from
# PATH and the log file can be moved with CLASSIC_STATE_LOG.
#
# usage: redis_master.sh LOCAL_HOST PEER_HOST PORT
REDISCLI="${REDIS_CLI:-redis-cli} -h $1 -p $3"
LOGFILE="${CLASSIC_STATE_LOG:-/var/log/keepalived-redis-state.log}"
echo "[master]" >> $LOGFILE
date >> $LOGFILE
echo "Being master...." >> $LOGFILE 2>&1
echo "Run SLAVEOF cmd ... " >> $LOGFILE
$REDISCLI SLAVEOF $2 $3 >> $LOGFILE  2>&1
#echo "SLAVEOF $2 cmd can't excute ... " >> $LOGFILE
sleep 10
echo "Run SLAVEOF NO ONE cmd ..." >> $LOGFILE
$REDISCLI SLAVEOF NO ONE >> $LOGFILE 2>&1
