<?php
// pecl memcache (Memcache, memcache_connect) through the proxy: every call the
// PHP applications behind the original magent make, each result checked.
declare(strict_types=1);
require __DIR__ . '/common.php';

if (!extension_loaded('memcache')) { echo "the memcache extension (php-memcache) is not loaded\n"; exit(2); }
echo 'memcache extension ', phpversion('memcache'), ', PHP ', PHP_VERSION, "\n";

$p = run_prefix('pm');

// memcache_connect, the procedural API.
$link = memcache_connect(proxy_host(), proxy_port());
check_true('memcache_connect', $link !== false);
check('memcache_set', true, memcache_set($link, "{$p}proc", 'procedural', 0, 0));
check('memcache_get', 'procedural', memcache_get($link, "{$p}proc"));
check('memcache_delete', true, memcache_delete($link, "{$p}proc"));
check('memcache_get after delete', false, memcache_get($link, "{$p}proc"));
check('memcache_close', true, memcache_close($link));

$m = new Memcache();
check('connect', true, $m->connect(proxy_host(), proxy_port(), 5));
$version = $m->getVersion();
check_true('getVersion gives a string', is_string($version) && $version !== '', var_export($version, true));

// set / get / add / replace / delete
check('set', true, $m->set("{$p}a", 'alpha'));
check('get', 'alpha', $m->get("{$p}a"));
check('get miss', false, $m->get("{$p}missing"));
check('add existing', false, $m->add("{$p}a", 'other'));
check('get after refused add', 'alpha', $m->get("{$p}a"));
check('add new', true, $m->add("{$p}b", 'beta'));
check('get added', 'beta', $m->get("{$p}b"));
check('replace existing', true, $m->replace("{$p}a", 'alpha2'));
check('get replaced', 'alpha2', $m->get("{$p}a"));
check('replace missing', false, $m->replace("{$p}nothere", 'x'));
check('get after refused replace', false, $m->get("{$p}nothere"));
check('delete', true, $m->delete("{$p}a"));
check('delete missing', false, $m->delete("{$p}a"));
check('get deleted', false, $m->get("{$p}a"));

// increment / decrement
check('set counter', true, $m->set("{$p}n", 10));
check('increment', 11, $m->increment("{$p}n"));
check('increment 5', 16, $m->increment("{$p}n", 5));
check('decrement 6', 10, $m->decrement("{$p}n", 6));
check('decrement below 0 stops at 0', 0, $m->decrement("{$p}n", 100));
check('increment missing', false, $m->increment("{$p}nocounter", 1));
check('get counter', 0, (int)$m->get("{$p}n"));

// Typed values and arrays: the type travels in the flags.
$typed = [
    'string' => 'text',
    'int' => 42,
    'negative' => -7,
    'float' => 3.25,
    'true' => true,
    'false' => false,
    'array' => ['a' => 1, 'b' => [2, 3], 'c' => 'x y'],
    'list' => [1, 'two', 3.0, null],
    'object' => (object)['name' => 'obj', 'n' => 1],
    'empty' => '',
];
foreach ($typed as $name => $value) {
    check("set typed $name", true, $m->set("{$p}t_$name", $value));
}
foreach ($typed as $name => $value) {
    $flags = null;
    $got = $m->get("{$p}t_$name", $flags);
    if (is_object($value)) {
        check_true("get typed $name", $got instanceof stdClass && $got == $value, var_export($got, true));
    } else {
        check("get typed $name", $value, $got);
    }
    if (is_array($value) || is_object($value)) {
        check_true("flags of $name mark it serialized", is_int($flags) && ($flags & 1) === 1, var_export($flags, true));
    }
}
// Application flags (MEMCACHE_USER1..4) survive the round trip too.
check('set with MEMCACHE_USER2', true, $m->set("{$p}flags", 'plain', MEMCACHE_USER2));
$flags = null;
check('get with MEMCACHE_USER2', 'plain', $m->get("{$p}flags", $flags));
check_true('MEMCACHE_USER2 returned', is_int($flags) && ($flags & MEMCACHE_USER2) === MEMCACHE_USER2, var_export($flags, true));

// MEMCACHE_COMPRESSED: stored compressed (flag bit 2, shorter data), read back whole.
$compressible = str_repeat("magent compressible line 0123456789\n", 3000);
check('set MEMCACHE_COMPRESSED', true, $m->set("{$p}z", $compressible, MEMCACHE_COMPRESSED));
$flags = null;
check('get compressed', $compressible, $m->get("{$p}z", $flags));
check_true('compressed flag returned', is_int($flags) && ($flags & MEMCACHE_COMPRESSED) === MEMCACHE_COMPRESSED, var_export($flags, true));
$raw = raw_get("{$p}z");
check_true('compressed on the wire', $raw !== null && ($raw[0] & 2) === 2 && strlen($raw[1]) < strlen($compressible) / 4,
           $raw === null ? 'miss' : "flags {$raw[0]}, " . strlen($raw[1]) . ' bytes');
check('array compressed', true, $m->set("{$p}za", ['rows' => array_fill(0, 2000, 'row')], MEMCACHE_COMPRESSED));
check('get array compressed', ['rows' => array_fill(0, 2000, 'row')], $m->get("{$p}za"));

// Multi-get of an array of keys, spread over both primaries, with misses in between.
$expected = [];
for ($i = 0; $i < 60; $i++) {
    $key = "{$p}multi$i";
    $expected[$key] = $i % 3 === 0 ? ['n' => $i] : "value $i";
    check("set multi $i", true, $m->set($key, $expected[$key]));
}
$keys = array_keys($expected);
$keys[] = "{$p}multi_missing1";
array_splice($keys, 10, 0, ["{$p}multi_missing2"]);
$got = $m->get($keys);
ksort($got);
ksort($expected);
check('multi-get of 60 keys + 2 misses', $expected, $got);
check('multi-get of only misses', [], $m->get(["{$p}x1", "{$p}x2"]));

// Values containing the protocol's own terminators.
$tricky = "line1\r\nEND\r\nVALUE fake 0 3\r\nabc\r\nEND\r\n\0tail";
check('set value with \r\nEND\r\n', true, $m->set("{$p}tricky", $tricky));
check('get value with \r\nEND\r\n', $tricky, $m->get("{$p}tricky"));
check('set value ending in \r\nEND\r\n', true, $m->set("{$p}tricky2", "\r\nEND\r\n"));
$both = $m->get(["{$p}tricky", "{$p}tricky2", "{$p}b"]);
ksort($both);
check('multi-get with \r\nEND\r\n values', ["{$p}b" => 'beta', "{$p}tricky" => $tricky, "{$p}tricky2" => "\r\nEND\r\n"], $both);

// Large values near 1 MB (incompressible, so they travel at full size).
foreach ([512 * 1024, 1000 * 1000, 1024 * 1024 - 1024] as $size) {
    $value = random_bytes($size);
    check("set $size random bytes", true, $m->set("{$p}large$size", $value));
    $got = $m->get("{$p}large$size");
    check("get $size random bytes", md5($value), is_string($got) ? md5($got) : var_export($got, true));
    check("length of $size", $size, is_string($got) ? strlen($got) : -1);
}
$value = random_bytes(1000 * 1000);
$m->set("{$p}large_a", $value);
$got = $m->get(["{$p}large_a", "{$p}b", "{$p}large1000000"]);
check('multi-get with large values', 3, count($got));
check('large value in multi-get', md5($value), md5($got["{$p}large_a"] ?? ''));

// flush: everything is gone, on every server behind the proxy.
check('flush', true, $m->flush());
check('get after flush', false, $m->get("{$p}b"));
check('multi-get after flush', [], $m->get($keys));
check('set after flush', true, $m->set("{$p}after", 'again'));
check('get after flush and set', 'again', $m->get("{$p}after"));

check('close', true, $m->close());
finish('php memcache');
