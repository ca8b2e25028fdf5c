<?php
// What a PHP client's getStats() makes of the proxy's plain `stats`: usage
// `php php_stats.php memcached|memcache`. Prints one line, "STATS_JSON " and a
// JSON object: "stats", the mapping for the proxy's server (null when the
// client returned nothing or false), and "detail", what the client said.
// The test (StatsFormatTests.swift) compares the mapping with the servers'.
declare(strict_types=1);
require __DIR__ . '/common.php';

$client = $argv[1] ?? '';
$stats = null;
$detail = '';
if ($client === 'memcached') {
    if (!extension_loaded('memcached')) { echo "the memcached extension (php-memcached) is not loaded\n"; exit(2); }
    $m = new Memcached();
    $m->addServer(proxy_host(), proxy_port());
    $all = $m->getStats();
    $detail = 'php-memcached ' . phpversion('memcached') . ': ' . $m->getResultMessage();
    // One entry per server, keyed "host:port".
    if (is_array($all) && count($all) > 0) { $stats = reset($all); }
    if ($stats === []) { $stats = null; }
} elseif ($client === 'memcache') {
    if (!extension_loaded('memcache')) { echo "the memcache extension (php-memcache) is not loaded\n"; exit(2); }
    $m = new Memcache();
    if (!$m->connect(proxy_host(), proxy_port(), 5)) { echo "cannot connect\n"; exit(1); }
    $result = $m->getStats();
    $detail = 'pecl memcache ' . phpversion('memcache') . ': getStats returned ' . gettype($result);
    if (is_array($result) && count($result) > 0) { $stats = $result; }
} else {
    echo "usage: php php_stats.php memcached|memcache\n";
    exit(2);
}
echo 'STATS_JSON ', json_encode(['stats' => $stats, 'detail' => $detail],
    JSON_FORCE_OBJECT | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR), "\n";
