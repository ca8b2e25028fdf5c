<?php
// Shared by the PHP client checks: where the proxy is, and checks that count
// failures and make the script exit non-zero on any mismatch.
declare(strict_types=1);
// E_DEPRECATED off: pecl memcache 4.0.5 itself creates a dynamic property on PHP 8.2.
error_reporting(E_ALL & ~E_DEPRECATED);

function proxy_host(): string { return getenv('MAGENT_HOST') ?: '127.0.0.1'; }

function proxy_port(): int {
    $port = getenv('MAGENT_PORT');
    if ($port === false || $port === '') { fwrite(STDERR, "MAGENT_PORT is not set\n"); exit(2); }
    return (int)$port;
}

$GLOBALS['failures'] = 0;
$GLOBALS['checks'] = 0;

/** Records one check; prints both sides on a mismatch. */
function check(string $what, $expected, $actual): void {
    $GLOBALS['checks']++;
    if ($expected === $actual) { return; }
    $GLOBALS['failures']++;
    $show = function ($value): string {
        $text = var_export($value, true);
        return strlen($text) > 300 ? substr($text, 0, 300) . '... (' . strlen($text) . ' chars)' : $text;
    };
    echo "FAIL $what\n  expected: {$show($expected)}\n  actual:   {$show($actual)}\n";
}

function check_true(string $what, bool $condition, string $detail = ''): void {
    check($what . ($detail === '' ? '' : " ($detail)"), true, $condition);
}

/**
 * Polls $condition every $interval seconds until it returns true or $timeout
 * seconds have passed (then asks once more); returns whether it held. Every wait
 * for a state in these scripts goes through here.
 */
function wait_until(callable $condition, float $timeout, float $interval = 0.02): bool {
    $deadline = microtime(true) + $timeout;
    $rounds = (int)ceil($timeout / $interval) + 2;
    for ($round = 0; $round < $rounds; $round++) {
        if ($condition()) { return true; }
        if (microtime(true) >= $deadline) { break; }
        usleep((int)($interval * 1_000_000));
    }
    return (bool)$condition();
}

/** Prints the tally and exits 1 if anything failed. */
function finish(string $name): void {
    $failures = $GLOBALS['failures'];
    $checks = $GLOBALS['checks'];
    echo "$name: $checks checks, $failures failed\n";
    exit($failures === 0 ? 0 : 1);
}

/** A unique prefix per run, so reruns against a warm cache cannot pass by accident. */
function run_prefix(string $name): string { return $name . '_' . getmypid() . '_' . bin2hex(random_bytes(3)) . '_'; }

/** Reads one item's raw reply through the proxy: [flags, data] or null on a miss. */
function raw_get(string $key): ?array {
    $socket = fsockopen(proxy_host(), proxy_port(), $errno, $error, 5);
    if ($socket === false) { throw new RuntimeException("connect: $error"); }
    stream_set_timeout($socket, 5);
    fwrite($socket, "get $key\r\n");
    $line = fgets($socket);
    if ($line === "END\r\n") { fclose($socket); return null; }
    $parts = explode(' ', rtrim($line, "\r\n"));
    if (count($parts) < 4 || $parts[0] !== 'VALUE') { throw new RuntimeException("raw get: " . var_export($line, true)); }
    $length = (int)$parts[3];
    $data = '';
    while (strlen($data) < $length + 2) {
        $chunk = fread($socket, $length + 2 - strlen($data));
        if ($chunk === false || $chunk === '') { throw new RuntimeException('raw get: short data'); }
        $data .= $chunk;
    }
    $end = fgets($socket);
    fclose($socket);
    if ($end !== "END\r\n") { throw new RuntimeException("raw get: no END, got " . var_export($end, true)); }
    return [(int)$parts[2], substr($data, 0, $length)];
}
