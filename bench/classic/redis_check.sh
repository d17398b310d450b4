#!/bin/bash
# The classic keepalived vrrp_script for Redis, as the how-to articles give
# it: one redis-cli PING, then three lines appended to a log file on every
# run (a "[CHECK]" header, the output of date, and the verdict).
#
# Only two things differ from the original, so that the benchmark can run it
# anywhere without root: redis-cli is taken from PATH (the article installs
# it in /usr/local/redis/bin), and the log file can be moved with
# CLASSIC_CHECK_LOG (the article's path is the default). Everything else,
# including the unquoted test, is kept as published.
#
# usage: redis_check.sh HOST PORT
ALIVE=`${REDIS_CLI:-redis-cli} -h $1 -p $2 PING`
LOGFILE="${CLASSIC_CHECK_LOG:-/var/log/keepalived-redis-check.log}"
echo "[CHECK]" >> $LOGFILE
date >> $LOGFILE
if [ $ALIVE == "PONG" ]; then :
   echo "Success: redis-cli -h $1 -p $2 PING $ALIVE" >> $LOGFILE 2>&1
    exit 0
else
    echo "Failed:redis-cli -h $1 -p $2 PING $ALIVE " >> $LOGFILE 2>&1
    exit 1
fi
