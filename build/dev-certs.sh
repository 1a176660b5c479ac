#!/bin/sh
# Development certificates for mnat-server with openssl: a CA, a server
# certificate and client certificates, all signed by that CA.
#
#   build/dev-certs.sh DIR [SERVER-NAME] [CLIENT-CN ...]
#
# DIR          output directory (created); existing files are overwritten
# SERVER-NAME  extra DNS name or IP for the server certificate (SANs always
#              include localhost, 127.0.0.1 and ::1)
# CLIENT-CN    one client certificate per name (default: egress ingress mnat-admin);
#              "mnat-admin" is the CN the server's status page accepts by default
#
# Makes: ca.pem ca.key server.pem server.key and CN.pem CN.key (plus CN.bundle.pem,
# certificate and key in one file, the form the prototype's clients take).
# Keys are EC P-256; certificates are valid for 825 days.
set -eu
dir=${1:?usage: build/dev-certs.sh DIR [SERVER-NAME] [CLIENT-CN ...]}
name=${2:-}
[ $# -ge 2 ] && shift 2 || shift 1
[ $# -eq 0 ] && set -- egress ingress mnat-admin
mkdir -p "$dir"
cd "$dir"
umask 077

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

newkey ca.key
openssl req -x509 -new -key ca.key -sha256 -days 825 -subj "/CN=mnat dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

san="DNS:localhost,IP:127.0.0.1,IP:::1"
if [ -n "$name" ]; then
  case "$name" in
    *[!0-9.]*) case "$name" in *:*) san="$san,IP:$name" ;; *) san="$san,DNS:$name" ;; esac ;;
    *) san="$san,IP:$name" ;;
  esac
fi

sign() { # sign CN EXTFILE-CONTENT
  newkey "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  printf '%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

sign server "subjectAltName=$san
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth"
for cn in "$@"; do
  sign "$cn" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  cat "$cn.pem" "$cn.key" > "$cn.bundle.pem"
done
rm -f ca.srl
chmod 644 ca.pem server.pem
echo "made in $dir: ca.pem server.pem server.key $(for cn in "$@"; do printf '%s.pem %s.key ' "$cn" "$cn"; done)(server SANs: $san)"
