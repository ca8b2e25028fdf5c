<?php
// php-memcached (Memcached, libmemcached underneath) through the proxy: result
// codes, multi operations, cas, append/prepend, touch, counters, delete,
// getVersion. Usage: `php php_memcached.php [text|binary]` (the protocol spoken).
declare(strict_types=1);
require __DIR__ . '/common.php';

if (!extension_loaded('memcached')) { echo "the memcached extension (php-memcached) is not loaded\n"; exit(2); }
echo 'memcached extension ', phpversion('memcached'), ', PHP ', PHP_VERSION, "\n";

$binary = ($argv[1] ?? 'text') === 'binary';
echo 'protocol: ', $binary ? 'binary' : 'text', "\n";
$p = run_prefix('pmd');
$m = new Memcached();
// No compression so append/prepend are allowed.
check('protocol option', true, $m->setOption(Memcached::OPT_BINARY_PROTOCOL, $binary));
check('protocol in use', $binary, (bool)$m->getOption(Memcached::OPT_BINARY_PROTOCOL));
check('compression off', true, $m->setOption(Memcached::OPT_COMPRESSION, false));
check('short timeouts', true, $m->setOptions([Memcached::OPT_CONNECT_TIMEOUT => 3000, Memcached::OPT_RECV_TIMEOUT => 5000000,
                                               Memcached::OPT_SEND_TIMEOUT => 5000000, Memcached::OPT_POLL_TIMEOUT => 5000]));
check('addServer', true, $m->addServer(proxy_host(), proxy_port()));

function code(Memcached $m): string {
    $names = [Memcached::RES_SUCCESS => 'RES_SUCCESS', Memcached::RES_NOTFOUND => 'RES_NOTFOUND',
              Memcached::RES_NOTSTORED => 'RES_NOTSTORED', Memcached::RES_DATA_EXISTS => 'RES_DATA_EXISTS',
              Memcached::RES_END => 'RES_END'];
    $code = $m->getResultCode();
    return $names[$code] ?? ("code $code: " . $m->getResultMessage());
}

// Result codes of single operations.
check('set', true, $m->set("{$p}a", 'alpha'));
check('set code', 'RES_SUCCESS', code($m));
check('get', 'alpha', $m->get("{$p}a"));
check('get code', 'RES_SUCCESS', code($m));
check('get miss', false, $m->get("{$p}missing"));
check('get miss code', 'RES_NOTFOUND', code($m));
check('add existing', false, $m->add("{$p}a", 'other'));
// The binary protocol says why (as memcached itself answers), the text one only NOT_STORED.
check('add existing code', $binary ? 'RES_DATA_EXISTS' : 'RES_NOTSTORED', code($m));
check('add new', true, $m->add("{$p}b", 'beta'));
check('add new code', 'RES_SUCCESS', code($m));
check('replace missing', false, $m->replace("{$p}none", 'x'));
check('replace missing code', $binary ? 'RES_NOTFOUND' : 'RES_NOTSTORED', code($m));
check('replace', true, $m->replace("{$p}b", 'beta2'));
check('get replaced', 'beta2', $m->get("{$p}b"));
check('delete', true, $m->delete("{$p}b"));
check('delete code', 'RES_SUCCESS', code($m));
check('delete missing', false, $m->delete("{$p}b"));
check('delete missing code', 'RES_NOTFOUND', code($m));
check('get deleted', false, $m->get("{$p}b"));

// Types through the default serializer.
$values = ['int' => 12, 'float' => 1.5, 'bool' => true, 'array' => ['x' => [1, 2], 'y' => 'z'], 'string' => "a b\r\nEND\r\n"];
foreach ($values as $name => $value) { check("set $name", true, $m->set("{$p}v_$name", $value)); }
foreach ($values as $name => $value) { check("get $name", $value, $m->get("{$p}v_$name")); }

// setMulti / getMulti over both primaries, with misses.
$items = [];
for ($i = 0; $i < 50; $i++) { $items["{$p}multi$i"] = $i % 2 ? "value $i" : ['n' => $i]; }
check('setMulti', true, $m->setMulti($items));
check('setMulti code', 'RES_SUCCESS', code($m));
$keys = array_keys($items);
$keys[] = "{$p}multi_missing";
$got = $m->getMulti($keys);
check('getMulti code', 'RES_SUCCESS', code($m));
check_true('getMulti returns an array', is_array($got));
if (is_array($got)) { ksort($got); }
$sorted = $items;
ksort($sorted);
check('getMulti', $sorted, $got);
check('getMulti all misses', [], $m->getMulti(["{$p}no1", "{$p}no2"]));
$ordered = $m->getMulti(["{$p}multi3", "{$p}multi_missing", "{$p}multi0"], Memcached::GET_PRESERVE_ORDER);
check('getMulti GET_PRESERVE_ORDER', ["{$p}multi3" => 'value 3', "{$p}multi_missing" => null, "{$p}multi0" => ['n' => 0]], $ordered);
check('deleteMulti', ["{$p}multi1" => true, "{$p}multi2" => true, "{$p}nope" => Memcached::RES_NOTFOUND],
      $m->deleteMulti(["{$p}multi1", "{$p}multi2", "{$p}nope"]));

// cas with GET_EXTENDED.
check('set for cas', true, $m->set("{$p}c", 'v1'));
$extended = $m->get("{$p}c", null, Memcached::GET_EXTENDED);
check_true('GET_EXTENDED shape', is_array($extended) && isset($extended['value'], $extended['cas'], $extended['flags']), var_export($extended, true));
$cas = is_array($extended) ? $extended['cas'] : 0;
check('GET_EXTENDED value', 'v1', is_array($extended) ? $extended['value'] : null);
check_true('cas token non-zero', is_numeric($cas) && $cas != 0, var_export($cas, true));
check('cas with the current token', true, $m->cas($cas, "{$p}c", 'v2'));
check('cas code', 'RES_SUCCESS', code($m));
check('cas with a stale token', false, $m->cas($cas, "{$p}c", 'v3'));
check('cas stale code', 'RES_DATA_EXISTS', code($m));
check('value after cas', 'v2', $m->get("{$p}c"));
check('cas on a missing key', false, $m->cas($cas, "{$p}cas_missing", 'x'));
check('cas missing code', 'RES_NOTFOUND', code($m));
$multi = $m->getMulti(["{$p}c", "{$p}a"], Memcached::GET_EXTENDED);
check_true('getMulti GET_EXTENDED has cas', is_array($multi) && isset($multi["{$p}c"]['cas'], $multi["{$p}a"]['cas']), var_export($multi, true));
check('getMulti GET_EXTENDED value', 'v2', $multi["{$p}c"]['value'] ?? null);
check_true('getMulti cas token changed by cas', ($multi["{$p}c"]['cas'] ?? $cas) != $cas);
check('cas with the multi token', true, $m->cas($multi["{$p}c"]['cas'] ?? 0, "{$p}c", 'v4'));
check('value after second cas', 'v4', $m->get("{$p}c"));

// append / prepend.
check('set for append', true, $m->set("{$p}s", 'middle'));
check('append', true, $m->append("{$p}s", '>end'));
check('prepend', true, $m->prepend("{$p}s", 'start<'));
check('after append/prepend', 'start<middle>end', $m->get("{$p}s"));
check('append missing', false, $m->append("{$p}s_missing", 'x'));
check('append missing code', 'RES_NOTSTORED', code($m));

// touch.
check('set with ttl', true, $m->set("{$p}t", 'touched', 100));
check('touch', true, $m->touch("{$p}t", 2));
check('touch code', 'RES_SUCCESS', code($m));
check('touch missing', false, $m->touch("{$p}t_missing", 10));
check('touch missing code', 'RES_NOTFOUND', code($m));
check('get after touch', 'touched', $m->get("{$p}t"));
// It expires 2 s after the touch (memcached's clock ticks once a second): polled, bounded.
wait_until(fn() => $m->get("{$p}t") === false, 10, 0.1);
check('expired after touch to 2 s', false, $m->get("{$p}t"));

// increment / decrement.
check('set counter', true, $m->set("{$p}n", '5'));
check('increment', 6, $m->increment("{$p}n"));
check('increment 10', 16, $m->increment("{$p}n", 10));
check('decrement 3', 13, $m->decrement("{$p}n", 3));
check('decrement to 0', 0, $m->decrement("{$p}n", 50));
check('increment missing', false, $m->increment("{$p}n_missing"));
check('increment missing code', 'RES_NOTFOUND', code($m));
// memcached keeps a decremented number's length, padding with spaces.
check('get counter', '0', rtrim((string)$m->get("{$p}n"), ' '));

// Counters created on a miss with an initial value (binary protocol only:
// libmemcached refuses an initial value over the text protocol).
if ($binary) {
    check('increment creates with the initial value', 10, $m->increment("{$p}created", 1, 10, 0));
    check('increment after creation', 11, $m->increment("{$p}created", 1, 10, 0));
    check('decrement creates with the initial value', 7, $m->decrement("{$p}created_down", 1, 7, 0));
    check('decrement after creation', 6, $m->decrement("{$p}created_down", 1, 7, 0));
    check('counter value', '11', $m->get("{$p}created"));
}

// getVersion: one entry for the one server, naming a version.
$versions = $m->getVersion();
check_true('getVersion returns one entry', is_array($versions) && count($versions) === 1, 'got ' . var_export($versions, true));
$version = is_array($versions) ? (array_values($versions)[0] ?? '') : '';
check_true('getVersion names a version', is_string($version) && preg_match('/^\d+\.\d+\.\d+/', $version) === 1, 'got ' . var_export($versions, true));
check('getVersion code', 'RES_SUCCESS', code($m));

// The connection still works after everything above.
check('final get', 'alpha', $m->get("{$p}a"));
finish('php memcached');
