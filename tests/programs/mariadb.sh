#!/bin/sh
# MariaDB end to end: install a data directory in DATADIR, start the server
# without networking (its socket in SOCKDIR), create a table, insert 1,000
# rows, query them, shut the server down. Prints the query's result and
# "stopped". Usage: mariadb.sh DATADIR SOCKDIR
set -e
D=$1; S=$2
mkdir -p "$D" "$S"
mariadb-install-db --no-defaults --user=root --datadir="$D" \
    --auth-root-authentication-method=normal >"$S/install.log" 2>&1 ||
    { tail -20 "$S/install.log" >&2; exit 1; }
mariadbd --no-defaults --user=root --datadir="$D" --skip-networking \
    --socket="$S/sock" --pid-file="$S/pid" --log-error="$S/err.log" &
i=0
while [ ! -S "$S/sock" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$S/sock" ] || { echo "no server socket" >&2; tail "$S/err.log" >&2; exit 1; }
M="mariadb --no-defaults -uroot --socket=$S/sock"
$M -e "create database t; create table t.r (id int primary key, v varchar(20)) engine=innodb;"
$M -e "insert into t.r with recursive s(n) as (select 1 union all select n+1 from s where n<1000)
       select n, concat('v', n) from s;"
$M -N -e "select count(*), sum(id), max(v) from t.r;"
$M -e "shutdown;"
wait
echo stopped
