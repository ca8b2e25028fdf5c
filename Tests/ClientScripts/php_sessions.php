<?php
// PHP sessions through the proxy, one `php` process per request, with session
// locking on: usage `php php_sessions.php memcache|memcached|memcached-binary`. A writer holds the
// session lock while a second process asks for the same session: the second must
// wait for the lock, then read what the first wrote.
declare(strict_types=1);
require __DIR__ . '/common.php';

$handler = $argv[1] ?? '';
$host = proxy_host();
$port = proxy_port();
$ini = match ($handler) {
    // pecl memcache: locking is built in (a "<sid>.lock" counter); it waits up to 2 x lock_timeout.
    'memcache' => ['session.save_handler=memcache', "session.save_path=tcp://$host:$port", 'memcache.lock_timeout=10'],
    // php-memcached over the text protocol, locking on, retries enough to outwait
    // the writer (50 x up to 200 ms).
    'memcached' => ['session.save_handler=memcached', "session.save_path=$host:$port", 'memcached.sess_binary_protocol=Off',
                    'memcached.sess_locking=On', 'memcached.sess_lock_wait_min=20', 'memcached.sess_lock_wait_max=200',
                    'memcached.sess_lock_retries=50', 'memcached.sess_lock_expire=30'],
    // php-memcached as shipped: memcached.sess_binary_protocol keeps its default (On).
    'memcached-binary' => ['session.save_handler=memcached', "session.save_path=$host:$port",
                    'memcached.sess_locking=On', 'memcached.sess_lock_wait_min=20', 'memcached.sess_lock_wait_max=200',
                    'memcached.sess_lock_retries=50', 'memcached.sess_lock_expire=30'],
    default => null,
};
if ($ini === null) { echo "usage: php_sessions.php memcache|memcached|memcached-binary\n"; exit(2); }
$extension = $handler === 'memcache' ? 'memcache' : 'memcached';
if (!extension_loaded($extension)) { echo "the $extension extension is not loaded\n"; exit(2); }
echo "session handler $handler (extension ", phpversion($extension), "), PHP ", PHP_VERSION, "\n";
$common = ['session.use_cookies=0', 'session.use_strict_mode=0', 'session.lazy_write=0', 'session.gc_probability=0',
           'display_errors=stderr', 'log_errors=0'];

/** Starts one worker process; returns [process, pipes]. */
function spawn(array $ini, string ...$arguments): array {
    $command = [PHP_BINARY];
    foreach ($ini as $setting) { array_push($command, '-d', $setting); }
    $command[] = __DIR__ . '/php_session_worker.php';
    array_push($command, ...$arguments);
    $process = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    if (!is_resource($process)) { echo "cannot start a php worker\n"; exit(1); }
    return [$process, $pipes];
}

/** Waits (bounded) for a worker and decodes its JSON line. */
function collect(array $worker, string $what, float $timeout = 20): ?array {
    [$process, $pipes] = $worker;
    $output = '';
    $errors = '';
    $exitCode = null;
    stream_set_blocking($pipes[1], false);
    stream_set_blocking($pipes[2], false);
    wait_until(function () use ($process, $pipes, &$output, &$errors, &$exitCode): bool {
        $output .= stream_get_contents($pipes[1]);
        $errors .= stream_get_contents($pipes[2]);
        $status = proc_get_status($process);
        if ($status['running']) { return false; }
        $exitCode = $status['exitcode'];  // reported once only: later calls say -1
        $output .= stream_get_contents($pipes[1]);
        $errors .= stream_get_contents($pipes[2]);
        return true;
    }, $timeout, 0.01);
    if ($exitCode === null) {
        proc_terminate($process, 9);
        check_true("$what finished within $timeout s", false, "stdout: $output stderr: $errors");
        return null;
    }
    proc_close($process);
    check("$what exit status", 0, $exitCode);
    check("$what printed no warnings", '', trim($errors));
    $decoded = json_decode(trim($output), true);
    check_true("$what printed its result", is_array($decoded), $output);
    return is_array($decoded) ? $decoded : null;
}

$sid = 'magent' . bin2hex(random_bytes(12));
$ready = sys_get_temp_dir() . "/magent-session-$sid";
$settings = array_merge($common, $ini);

// 1. A writer takes the lock, writes, and keeps the lock for 1.5 s.
$writer = spawn($settings, 'hold', $sid, $ready, '1.5');
wait_until(fn() => file_exists($ready), 10, 0.005);
check_true('writer holds the session', file_exists($ready));
@unlink($ready);

// 2. A second process asks for the same session meanwhile: it must wait for the lock.
$reader = spawn($settings, 'read', $sid);
$held = collect($writer, 'writer');
$read = collect($reader, 'reader');
if ($held !== null && $read !== null) {
    check('writer session_start', true, $held['start_ok']);
    check('writer saw an empty session', [], $held['seen']);
    check('writer wrote', true, $held['write_ok']);
    check('reader session_start', true, $read['start_ok']);
    $waited = $read['acquired'] - $read['started'];
    check_true('reader waited for the lock', $waited >= 0.5, sprintf('waited %.3f s', $waited));
    check_true('reader got the lock only after the writer released it', $read['acquired'] >= $held['releasing'],
               sprintf('acquired %.3f, writer released at %.3f', $read['acquired'], $held['releasing']));
    check('reader read what the writer wrote', [
        'written_by' => $held['pid'], 'count' => 1,
        'payload' => ['list' => range(1, 50), 'text' => "multi\r\nline\r\nEND\r\n", 'utf8' => "h\u{e9}llo"],
    ], $read['seen']);
    check('reader wrote', true, $read['write_ok']);
    printf("reader waited %.3f s for the writer's lock\n", $waited);
}

// 3. A third process sees both writes, without waiting: the lock was released.
$third = collect(spawn($settings, 'read', $sid), 'third reader');
if ($third !== null && $read !== null && $held !== null) {
    check('third reader sees both writes', ['written_by' => $held['pid'], 'count' => 2, 'read_by' => $read['pid']],
          array_intersect_key($third['seen'], ['written_by' => 1, 'count' => 1, 'read_by' => 1]));
    $waited = $third['acquired'] - $third['started'];
    check_true('third reader did not wait', $waited < 0.5, sprintf('waited %.3f s', $waited));
}

// 4. Destroyed: the next process starts an empty session.
$destroyed = collect(spawn($settings, 'destroy', $sid), 'destroyer');
if ($destroyed !== null) {
    check('destroyer saw the session', 3, $destroyed['seen']['count'] ?? null);
    check('session_destroy', true, $destroyed['write_ok']);
}
$fresh = collect(spawn($settings, 'fresh', $sid), 'fresh');
if ($fresh !== null) {
    check('session empty after destroy', [], $fresh['seen']);
    check_true('fresh did not wait', $fresh['acquired'] - $fresh['started'] < 0.5);
}
finish("php sessions ($handler)");
