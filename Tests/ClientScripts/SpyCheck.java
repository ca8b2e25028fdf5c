// spymemcached (net.spy.memcached) through the proxy, text protocol (or the binary
// one with the argument `binary`: BinaryConnectionFactory's protocol): the calls a
// Java application on the original magent makes, each result checked, plus 1,000
// asynchronous gets in flight at once. Exits 1 on any mismatch.
import java.io.Serializable;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import net.spy.memcached.CASResponse;
import net.spy.memcached.CASValue;
import net.spy.memcached.ConnectionFactoryBuilder;
import net.spy.memcached.MemcachedClient;

public final class SpyCheck {
    private static int checks = 0;
    private static int failures = 0;

    /** A user type stored through Java serialization. */
    static final class Profile implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final int visits;
        final List<String> tags;

        Profile(String name, int visits, List<String> tags) {
            this.name = name;
            this.visits = visits;
            this.tags = tags;
        }

        @Override public boolean equals(Object other) {
            if (!(other instanceof Profile)) return false;
            Profile that = (Profile) other;
            return name.equals(that.name) && visits == that.visits && tags.equals(that.tags);
        }

        @Override public int hashCode() { return Objects.hash(name, visits, tags); }

        @Override public String toString() { return "Profile(" + name + ", " + visits + ", " + tags + ")"; }
    }

    static String show(Object value) {
        String text = value instanceof byte[] ? "byte[" + ((byte[]) value).length + "]" : String.valueOf(value);
        return text.length() > 300 ? text.substring(0, 300) + "... (" + text.length() + " chars)" : text;
    }

    static void check(String what, Object expected, Object actual) {
        checks++;
        boolean same = expected instanceof byte[] && actual instanceof byte[]
            ? Arrays.equals((byte[]) expected, (byte[]) actual) : Objects.equals(expected, actual);
        if (!same) {
            failures++;
            System.out.println("FAIL " + what + "\n  expected: " + show(expected) + "\n  actual:   " + show(actual));
        }
    }

    static String md5(byte[] data) throws Exception {
        StringBuilder hex = new StringBuilder();
        for (byte b : MessageDigest.getInstance("MD5").digest(data)) hex.append(String.format("%02x", b));
        return hex.toString();
    }

    static boolean binary = false;

    static MemcachedClient connect(String host, int port, boolean optimize) throws Exception {
        ConnectionFactoryBuilder builder = new ConnectionFactoryBuilder()
            .setProtocol(binary ? ConnectionFactoryBuilder.Protocol.BINARY : ConnectionFactoryBuilder.Protocol.TEXT)
            .setOpTimeout(10_000)
            .setShouldOptimize(optimize)
            .setMaxReconnectDelay(1);
        return new MemcachedClient(builder.build(), Collections.singletonList(new InetSocketAddress(host, port)));
    }

    public static void main(String[] args) throws Exception {
        String host = System.getenv().getOrDefault("MAGENT_HOST", "127.0.0.1");
        String portText = System.getenv("MAGENT_PORT");
        if (portText == null || portText.isEmpty()) {
            System.out.println("MAGENT_PORT is not set");
            System.exit(2);
        }
        int port = Integer.parseInt(portText);
        binary = args.length > 0 && args[0].equals("binary");
        System.out.println("protocol: " + (binary ? "binary" : "text"));
        System.out.println("spymemcached from " + MemcachedClient.class.getProtectionDomain().getCodeSource().getLocation()
            + ", Java " + System.getProperty("java.version"));
        String p = "spy_" + ProcessHandle.current().pid() + "_" + Integer.toHexString(new Random().nextInt(1 << 24)) + "_";
        MemcachedClient client = connect(host, port, true);
        try {
            run(client, p);
        } finally {
            client.shutdown(5, TimeUnit.SECONDS);
        }
        MemcachedClient unoptimized = connect(host, port, false);
        try {
            asyncGets(unoptimized, p + "plain_", "unoptimized (one get per key)");
        } finally {
            unoptimized.shutdown(5, TimeUnit.SECONDS);
        }
        System.out.println("spymemcached: " + checks + " checks, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }

    static void run(MemcachedClient c, String p) throws Exception {
        // set / get / delete / add
        check("set", true, c.set(p + "a", 0, "alpha").get());
        check("get", "alpha", c.get(p + "a"));
        check("get miss", null, c.get(p + "missing"));
        check("add existing", false, c.add(p + "a", 0, "other").get());
        check("add new", true, c.add(p + "b", 0, "beta").get());
        check("get added", "beta", c.get(p + "b"));
        check("replace missing", false, c.replace(p + "none", 0, "x").get());
        check("replace", true, c.replace(p + "b", 0, "beta2").get());
        check("get replaced", "beta2", c.get(p + "b"));
        check("delete", true, c.delete(p + "b").get());
        check("delete missing", false, c.delete(p + "b").get());
        check("get deleted", null, c.get(p + "b"));

        // Typed values through the serializing transcoder (type in the flags).
        Map<String, Object> typed = new LinkedHashMap<>();
        typed.put("int", 42);
        typed.put("long", 1L << 40);
        typed.put("double", 2.5);
        typed.put("bool", true);
        typed.put("bytes", new byte[] {0, 1, 13, 10, (byte) 0xff});
        typed.put("string", "h\u00e9llo \r\nEND\r\n");
        for (Map.Entry<String, Object> e : typed.entrySet()) check("set " + e.getKey(), true, c.set(p + "t_" + e.getKey(), 0, e.getValue()).get());
        for (Map.Entry<String, Object> e : typed.entrySet()) check("get " + e.getKey(), e.getValue(), c.get(p + "t_" + e.getKey()));

        // Serialized objects.
        Profile profile = new Profile("ada", 7, Arrays.asList("x", "y"));
        HashMap<String, Object> map = new HashMap<>();
        map.put("profile", profile);
        map.put("list", new ArrayList<>(Arrays.asList(1, 2, 3)));
        check("set serializable", true, c.set(p + "obj", 0, profile).get());
        check("get serializable", profile, c.get(p + "obj"));
        check("set HashMap", true, c.set(p + "map", 0, map).get());
        check("get HashMap", map, c.get(p + "map"));
        StringBuilder big = new StringBuilder();
        for (int i = 0; i < 20_000; i++) big.append("line ").append(i).append('\n');
        check("set large compressible string", true, c.set(p + "big", 0, big.toString()).get());
        check("get large compressible string", big.toString(), c.get(p + "big"));
        byte[] random = new byte[1000 * 1000];
        new Random(4).nextBytes(random);
        check("set ~1 MB random bytes", true, c.set(p + "random", 0, random).get());
        Object gotRandom = c.get(p + "random");
        check("get ~1 MB random bytes", md5(random), gotRandom instanceof byte[] ? md5((byte[]) gotRandom) : show(gotRandom));

        // getBulk across both primaries, with misses.
        Map<String, Object> items = new HashMap<>();
        List<Future<Boolean>> sets = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            items.put(p + "bulk" + i, i % 2 == 0 ? "value " + i : Integer.valueOf(i));
            sets.add(c.set(p + "bulk" + i, 0, items.get(p + "bulk" + i)));
        }
        int stored = 0;
        for (Future<Boolean> f : sets) if (f.get()) stored++;
        check("100 sets", 100, stored);
        List<String> keys = new ArrayList<>(items.keySet());
        keys.add(p + "bulk_missing");
        check("getBulk", items, c.getBulk(keys));
        check("getBulk of misses", Collections.emptyMap(), c.getBulk(p + "nope1", p + "nope2"));

        // incr / decr
        check("incr missing", -1L, c.incr(p + "n", 1));
        check("incr with default", 10L, c.incr(p + "n", 1, 10, 0));
        check("incr", 15L, c.incr(p + "n", 5));
        check("decr", 12L, c.decr(p + "n", 3));
        check("decr below zero", 0L, c.decr(p + "n", 100));
        check("asyncIncr", 7L, c.asyncIncr(p + "n", 7).get());

        // gets / cas
        check("set for cas", true, c.set(p + "c", 0, "v1").get());
        CASValue<Object> casValue = c.gets(p + "c");
        check("gets value", "v1", casValue == null ? null : casValue.getValue());
        long token = casValue == null ? 0 : casValue.getCas();
        check("cas", CASResponse.OK, c.cas(p + "c", token, "v2"));
        check("cas stale", CASResponse.EXISTS, c.cas(p + "c", token, "v3"));
        check("cas missing", CASResponse.NOT_FOUND, c.cas(p + "cas_missing", token, "v"));
        check("get after cas", "v2", c.get(p + "c"));
        check("gets missing", null, c.gets(p + "gets_missing"));

        // append / prepend
        check("set for append", true, c.set(p + "s", 0, "middle").get());
        check("append", true, c.append(p + "s", ">end").get());
        check("prepend", true, c.prepend(p + "s", "start<").get());
        check("get after append/prepend", "start<middle>end", c.get(p + "s"));
        CASValue<Object> sCas = c.gets(p + "s");
        check("append with cas", true, c.append(sCas.getCas(), p + "s", "!").get());
        check("get after append with cas", "start<middle>end!", c.get(p + "s"));
        check("append missing", false, c.append(p + "s_missing", "x").get());

        // touch
        check("touch", true, c.touch(p + "s", 100).get());
        check("touch missing", false, c.touch(p + "touch_missing", 100).get());

        asyncGets(c, p + "async_", "optimized (gets merged)");
    }

    /** 1,000 asynchronous gets issued before any is read; every one must come back right. */
    static void asyncGets(MemcachedClient c, String prefix, String label) throws Exception {
        int count = 1000;
        List<Future<Boolean>> sets = new ArrayList<>();
        for (int i = 0; i < count; i++) sets.add(c.set(prefix + i, 0, "async value " + i));
        int stored = 0;
        for (Future<Boolean> f : sets) if (f.get(20, TimeUnit.SECONDS)) stored++;
        check(label + ": 1000 async sets", count, stored);
        List<Future<Object>> gets = new ArrayList<>();
        for (int i = 0; i < count; i++) gets.add(c.asyncGet(prefix + i));
        Future<Object> miss = c.asyncGet(prefix + "missing");
        int right = 0;
        String firstWrong = null;
        for (int i = 0; i < count; i++) {
            Object got = gets.get(i).get(20, TimeUnit.SECONDS);
            if (("async value " + i).equals(got)) right++;
            else if (firstWrong == null) firstWrong = prefix + i + " -> " + show(got);
        }
        check(label + ": 1000 async gets in flight, right values", count, right);
        if (firstWrong != null) System.out.println("  first wrong: " + firstWrong);
        check(label + ": async miss", null, miss.get(20, TimeUnit.SECONDS));
        check(label + ": getBulk of the 1000", count, c.getBulk(prefixKeys(prefix, count)).size());
    }

    static List<String> prefixKeys(String prefix, int count) {
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < count; i++) keys.add(prefix + i);
        return keys;
    }
}
