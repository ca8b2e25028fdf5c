<?php
// One PHP request with a session kept in memcached through the proxy, for the
// recovery tests: `php recovery_session.php memcache|memcached write|read PORT [SID]`
// (host from MAGENT_HOST, default 127.0.0.1). `write` stores a known session and
// prints "SID <id>"; `read` opens session SID and exits 0 only if it holds exactly
// what `write` stored (printing both sides otherwise).
declare(strict_types=1);
// E_DEPRECATED off: pecl memcache 4.0.5 itself creates a dynamic property on PHP 8.2.
error_reporting(E_ALL & ~E_DEPRECATED);
ini_set('display_errors', 'stderr');
ini_set('log_errors', '0');

[, $handler, $mode, $port, $sid] = $argv + [null, null, null, null, null];
$host = getenv('MAGENT_HOST') ?: '127.0.0.1';
if (!in_array($handler, ['memcache', 'memcached'], true) || !in_array($mode, ['write', 'read'], true)
    || !ctype_digit((string)$port) || ($mode === 'read' && !$sid)) {
    fwrite(STDERR, "usage: php recovery_session.php memcache|memcached write|read PORT [SID]\n");
    exit(2);
}
if (!extension_loaded($handler)) {
    echo "the $handler extension is not loaded (Debian's php-$handler; scripts/install-deps.sh installs it)\n";
    exit(3);
}

$settings = [
    'session.use_cookies' => '0',
    'session.use_strict_mode' => '0',
    'session.gc_probability' => '0',
    'session.save_handler' => $handler,
];
if ($handler === 'memcache') {
    $settings += ['session.save_path' => "tcp://$host:$port", 'memcache.lock_timeout' => '10'];
} else {
    $settings += ['session.save_path' => "$host:$port", 'memcached.sess_binary_protocol' => 'Off',
                  'memcached.sess_locking' => 'On', 'memcached.sess_lock_wait_min' => '20',
                  'memcached.sess_lock_wait_max' => '200', 'memcached.sess_lock_retries' => '50'];
}
foreach ($settings as $name => $value) {
    if (ini_set($name, $value) === false || (string)ini_get($name) !== $value) {
        echo "cannot set $name to $value (it is ", var_export(ini_get($name), true), ")\n";
        exit(1);
    }
}

/** The session `write` stores: big enough that both extensions compress it
 *  (so its memcached flags matter), with protocol-looking bytes inside. */
function expected_session(): array {
    $words = [];
    for ($i = 0; $i < 4000; $i++) { $words[] = "word$i"; }
    return [
        'user' => 'alice',
        'visits' => 42,
        'cart' => ['apples' => 3, 'pears' => 0.5, 'list' => range(1, 30)],
        'tricky' => "line one\r\nEND\r\nVALUE x 0 1\r\n\0tail",
        'utf8' => "h\u{e9}llo w\u{f6}rld \u{1f600}",
        'big' => implode(' ', $words),
    ];
}

if ($mode === 'read') { session_id($sid); }
if (!session_start()) {
    echo "session_start failed\n";
    exit(1);
}
if ($mode === 'write') {
    foreach (expected_session() as $name => $value) { $_SESSION[$name] = $value; }
    $id = session_id();
    if (!session_write_close()) {
        echo "session_write_close failed\n";
        exit(1);
    }
    echo "SID $id\n";
    exit(0);
}

$seen = $_SESSION;
session_write_close();
$expected = expected_session();
if ($seen === $expected) {
    echo "session $sid intact (", count($seen), " entries)\n";
    exit(0);
}
$show = function ($value): string {
    $text = var_export($value, true);
    return strlen($text) > 400 ? substr($text, 0, 400) . '... (' . strlen($text) . ' chars)' : $text;
};
echo "FAIL session $sid through $handler differs\n  expected: {$show($expected)}\n  actual:   {$show($seen)}\n";
exit(1);
