<?php
// One PHP request using a session through the proxy, run by php_sessions.php in
// its own `php` process. Modes: hold (write, then keep the lock a while), read
// (read and update), destroy, and fresh (expect an empty session). Prints one
// JSON line with what it saw and when.
declare(strict_types=1);
error_reporting(E_ALL & ~E_DEPRECATED);
ini_set('display_errors', 'stderr');

[$script, $mode, $sid] = $argv + [null, null, null];
$readyFile = $argv[3] ?? '';
$holdSeconds = (float)($argv[4] ?? 0);

session_id($sid);
$started = microtime(true);
$ok = session_start();
$acquired = microtime(true);
$seen = $_SESSION;
$result = ['mode' => $mode, 'pid' => getmypid(), 'start_ok' => $ok, 'started' => $started, 'acquired' => $acquired, 'seen' => $seen];

switch ($mode) {
case 'hold':
    $_SESSION['written_by'] = getmypid();
    $_SESSION['count'] = 1;
    $_SESSION['payload'] = ['list' => range(1, 50), 'text' => "multi\r\nline\r\nEND\r\n", 'utf8' => "h\u{e9}llo"];
    if ($readyFile !== '') { file_put_contents($readyFile, 'locked'); }
    // The scenario: the writer keeps the session lock this long while another process waits for it.
    usleep((int)($holdSeconds * 1_000_000));
    $result['releasing'] = microtime(true);
    $result['write_ok'] = session_write_close();
    break;
case 'read':
    $_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
    $_SESSION['read_by'] = getmypid();
    $result['releasing'] = microtime(true);
    $result['write_ok'] = session_write_close();
    break;
case 'destroy':
    $result['write_ok'] = session_destroy();
    break;
case 'fresh':
    $result['write_ok'] = session_write_close();
    break;
default:
    fwrite(STDERR, "unknown mode $mode\n");
    exit(2);
}
echo json_encode($result), "\n";
