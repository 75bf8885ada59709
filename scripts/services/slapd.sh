#!/bin/sh
# Start or stop a throwaway OpenLDAP slapd for tests, on loopback only.
#
#   scripts/services/slapd.sh start DIR PORT   # fresh directory, silent when ready
#   scripts/services/slapd.sh stop  DIR PORT   # kill the slapd recorded in DIR/slapd.pid
#
# Tests then use
#   BERTH_TEST_LDAP=ldap://127.0.0.1:PORT
# The server also offers StartTLS on the same port, with a self-signed
# certificate for 127.0.0.1 (DIR/tls/cert.pem), so that a client verifying
# certificates must refuse it. Every start wipes DIR/data and loads the
# directory below again; DIR/slapd.log holds the server's output.
# slapd, ldap-utils and openssl are installed with apt when missing.
#
# The directory (suffix dc=berth,dc=test; passwords stored as {SSHA}):
#
#   DN                                              password        notes
#   cn=admin,dc=berth,dc=test                       admin-secret    rootdn (not an entry)
#   cn=berth-search,ou=services,dc=berth,dc=test    search-secret   read-only search account
#   uid=alice,ou=people,dc=berth,dc=test            alice-secret    member of developers
#   uid=bob,ou=people,dc=berth,dc=test              bob-secret      in no group
#   uid=carol,ou=people,dc=berth,dc=test            carol-secret    member of berth-admins
#   cn=developers,ou=groups,dc=berth,dc=test        -               groupOfNames, member alice
#   cn=berth-admins,ou=groups,dc=berth,dc=test      -               groupOfNames, member carol
#
# Users are inetOrgPerson with uid, cn, sn, displayName and mail
# (alice@berth.test, ...): alice "Alice Archer", bob "Bob Baker",
# carol "Carol Cooper". The memberof overlay gives users a memberOf attribute.
# Access: userPassword is usable only to bind (never readable); anything
# else is readable by any bound user and by nobody anonymously.
set -eu

usage() {
	echo "usage: $0 start|stop DIR PORT" >&2
	exit 2
}

[ $# -eq 3 ] || usage
cmd=$1
dir=$2
port=$3

case $port in
'' | *[!0-9]*) usage ;;
esac

SUFFIX=dc=berth,dc=test
ROOTDN=cn=admin,$SUFFIX
ROOTPW=admin-secret

fail() {
	echo "slapd.sh: $1" >&2
	[ -f "$dir/slapd.log" ] && tail -n 20 "$dir/slapd.log" >&2
	exit 1
}

find_slapd() {
	command -v slapd 2>/dev/null || { [ -x /usr/sbin/slapd ] && echo /usr/sbin/slapd; } || true
}

# install_missing: apt-get install slapd, ldap-utils and openssl when absent,
# waiting for any other apt/dpkg rather than fighting over its lock.
install_missing() {
	pkgs=
	[ -n "$(find_slapd)" ] || pkgs="$pkgs slapd"
	command -v ldapadd >/dev/null 2>&1 || pkgs="$pkgs ldap-utils"
	command -v openssl >/dev/null 2>&1 || pkgs="$pkgs openssl"
	[ -z "$pkgs" ] && return 0
	[ "$(id -u)" -eq 0 ] || fail "need root to apt-get install$pkgs"
	echo "slapd.sh: installing$pkgs" >&2
	while pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null; do
		echo "slapd.sh: waiting for another apt/dpkg to finish..." >&2
		sleep 5
	done
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # $pkgs is a word list
	{
		apt-get -o DPkg::Lock::Timeout=600 update -qq &&
			apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $pkgs
	} >&2 || fail "apt-get install$pkgs failed"
}

running() {
	[ -f "$dir/slapd.pid" ] && kill -0 "$(cat "$dir/slapd.pid")" 2>/dev/null
}

ldif() {
	alice=$(slappasswd -h '{SSHA}' -s alice-secret)
	bob=$(slappasswd -h '{SSHA}' -s bob-secret)
	carol=$(slappasswd -h '{SSHA}' -s carol-secret)
	search=$(slappasswd -h '{SSHA}' -s search-secret)
	cat <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: berth
o: Berth test directory

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: cn=berth-search,ou=services,$SUFFIX
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: berth-search
userPassword: $search

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: alice
cn: Alice Archer
sn: Archer
displayName: Alice Archer
mail: alice@berth.test
userPassword: $alice

dn: uid=bob,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: bob
cn: Bob Baker
sn: Baker
displayName: Bob Baker
mail: bob@berth.test
userPassword: $bob

dn: uid=carol,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: carol
cn: Carol Cooper
sn: Cooper
displayName: Carol Cooper
mail: carol@berth.test
userPassword: $carol

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: cn=developers,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: developers
member: uid=alice,ou=people,$SUFFIX

dn: cn=berth-admins,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: berth-admins
member: uid=carol,ou=people,$SUFFIX
EOF
}

start() {
	install_missing
	slapd=$(find_slapd)
	[ -n "$slapd" ] || fail "slapd not found after install"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	running && fail "a slapd is already running from $dir (pid $(cat "$dir/slapd.pid"))"
	rm -rf "$dir/data" "$dir/slapd.pid"
	mkdir -p "$dir/data" "$dir/tls"
	if [ ! -s "$dir/tls/cert.pem" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=127.0.0.1 \
			-addext subjectAltName=IP:127.0.0.1 \
			-keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" >"$dir/tls/openssl.log" 2>&1 ||
			{ cat "$dir/tls/openssl.log" >&2; fail "openssl could not make a certificate"; }
	fi
	# The memberof overlay is configured here, before any group is added, so
	# that adding a group gives its members memberOf.
	cat >"$dir/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof

pidfile $dir/slapd.run.pid
argsfile $dir/slapd.args
TLSCertificateFile $dir/tls/cert.pem
TLSCertificateKeyFile $dir/tls/key.pem

database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "$ROOTDN"
rootpw $ROOTPW
directory $dir/data

access to attrs=userPassword
	by anonymous auth
	by * none
access to *
	by users read
	by * none

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
EOF
	# Something already answering on PORT would pass for this slapd below.
	rc=0
	timeout 5 ldapwhoami -x -H "ldap://127.0.0.1:$port" -o nettimeout=2 >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 255 ] || fail "127.0.0.1:$port is already in use"
	# -d 0 keeps slapd in the foreground, so $! is its PID.
	"$slapd" -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/" -d 0 \
		</dev/null >"$dir/slapd.log" 2>&1 &
	echo $! >"$dir/slapd.pid"
	i=0
	until ldapwhoami -x -H "ldap://127.0.0.1:$port" -D "$ROOTDN" -w "$ROOTPW" >/dev/null 2>&1; do
		running || fail "slapd exited before answering on 127.0.0.1:$port"
		i=$((i + 1))
		[ $i -lt 200 ] || fail "slapd did not answer on 127.0.0.1:$port within 20 s"
		sleep 0.1
	done
	running || fail "slapd exited after starting on 127.0.0.1:$port"
	ldif | ldapadd -x -H "ldap://127.0.0.1:$port" -D "$ROOTDN" -w "$ROOTPW" >"$dir/ldapadd.log" 2>&1 ||
		{ cat "$dir/ldapadd.log" >&2; fail "ldapadd failed"; }
}

stop() {
	dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
	[ -f "$dir/slapd.pid" ] || exit 0
	pid=$(cat "$dir/slapd.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			i=$((i + 1))
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/slapd.pid"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
