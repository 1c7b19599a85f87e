#!/bin/sh
# The stand-in WordPress front page: can WordPress reach its database? (Real WordPress answers
# "Error establishing a database connection" when it cannot.)
address="${WORDPRESS_DB_HOST:-db}"
host="${address%%:*}"
port=3306
[ "$host" = "$address" ] || port="${address#*:}"
user="${WORDPRESS_DB_USER:-root}"
name="${WORDPRESS_DB_NAME:-wordpress}"
mysql=/usr/local/lib/wordpress-standin/mysql

if answer="$("$mysql" -h "$host" -P "$port" -u "$user" --password="${WORDPRESS_DB_PASSWORD:-}" -N \
    -e "CREATE DATABASE IF NOT EXISTS $name; SELECT VERSION()" 2>&1)"; then
    version="$(echo "$answer" | grep -v Warning | tail -n 1)"
    printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
    cat <<PAGE
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>WordPress &rsaquo; Installation</title></head>
<body>
<h1>WordPress</h1>
<p>Welcome to WordPress $WORDPRESS_VERSION. This site is connected to the database at $host:$port
(database <code>$name</code>, user <code>$user</code>, MySQL $version).</p>
<p>Next you would choose a language and create the first account; berth's offline stand-in for
the WordPress image stops here.</p>
</body>
</html>
PAGE
else
    printf 'Status: 500 Internal Server Error\r\nContent-Type: text/html; charset=utf-8\r\n\r\n'
    cat <<PAGE
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>WordPress &rsaquo; Error</title></head>
<body>
<h1>Error establishing a database connection</h1>
<p>Either the user name and password in WORDPRESS_DB_USER and WORDPRESS_DB_PASSWORD are wrong, or
the database server at $host:$port could not be reached.</p>
<pre>$(echo "$answer" | grep -v Warning | sed 's/&/\&amp;/g; s/</\&lt;/g')</pre>
</body>
</html>
PAGE
fi
