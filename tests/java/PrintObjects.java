/*
 * Prints every `objects/*` entry of DL4J model zips as Java itself reads it, one line per entry:
 *
 *     <zip entry name> TAB <display text>
 *
 * Usage: java PrintObjects model.zip [more.zip ...]   (output is UTF-8)
 *
 * Each entry is read with ObjectInputStream.readObject() and printed by display() below, which
 * must stay identical to the Rust side (crates/core/src/java_serial/display.rs, used by
 * `dl4j objects get --decode`); tests/java_interop.rs compares the two line by line.
 *
 * The display format:
 *   null                            null
 *   String                          in double quotes; " and \ escaped with \; ISO control
 *                                   characters (U+0000-U+001F, U+007F-U+009F) and unpaired
 *                                   surrogates as a backslash, "u" and 4 lower-case hex digits;
 *                                   everything else as is
 *   Character                       the same in single quotes, escaping ' instead of "
 *   Integer, Long, Short, Byte      decimal
 *   Double, Float                   Double.toString / Float.toString (12.0, 1.0E-8, NaN)
 *   Boolean                         true / false
 *   arrays, ArrayList, LinkedList   [a, b, c]
 *   LinkedHashMap                   {k=v, k2=v2} in its order
 *   HashMap                         {k=v, k2=v2} sorted by the text of the key, then of the value
 *                                   (String.compareTo), as its iteration order is arbitrary
 *   java.util.Date                  Date(<milliseconds since 1970>)
 *   enum constant                   <binary class name>.<NAME>
 *   Class object                    <Class.getTypeName()>.class
 *   a container already being printed (a cyclic graph): (cycle)
 *   anything else                   its binary class name (Class.getName())
 * Only these exact classes are decoded (a subclass of HashMap is "anything else"); elements, keys
 * and values nest with the same rules.
 *
 * An entry Java cannot read (e.g. its class is not on the class path) is printed as
 * `<entry name> TAB !<exception>` and makes the exit status 1.
 */

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.io.PrintStream;
import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

public class PrintObjects {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(
                new BufferedOutputStream(new FileOutputStream(FileDescriptor.out)), false,
                StandardCharsets.UTF_8);
        boolean failed = false;
        for (String path : args) {
            try (ZipFile zip = new ZipFile(path)) {
                Enumeration<? extends ZipEntry> entries = zip.entries();
                while (entries.hasMoreElements()) {
                    ZipEntry e = entries.nextElement();
                    if (!e.getName().startsWith("objects/") || e.isDirectory()) {
                        continue;
                    }
                    String text;
                    try (InputStream in = zip.getInputStream(e);
                            ObjectInputStream ois = new ObjectInputStream(in)) {
                        text = display(ois.readObject());
                    } catch (Exception | StackOverflowError ex) {
                        text = "!" + ex;
                        failed = true;
                    }
                    out.print(e.getName() + "\t" + text + "\n");
                }
            }
        }
        out.flush();
        System.exit(failed ? 1 : 0);
    }

    /** The display text of an object read from a stream. */
    public static String display(Object o) {
        StringBuilder sb = new StringBuilder();
        print(o, sb, new IdentityHashMap<>());
        return sb.toString();
    }

    private static void print(Object o, StringBuilder sb, IdentityHashMap<Object, Boolean> path) {
        if (o == null) {
            sb.append("null");
            return;
        }
        Class<?> c = o.getClass();
        if (c == String.class) {
            quote((String) o, '"', sb);
        } else if (c == Character.class) {
            quote(String.valueOf((char) (Character) o), '\'', sb);
        } else if (c == Integer.class || c == Long.class || c == Short.class || c == Byte.class
                || c == Boolean.class) {
            sb.append(o);
        } else if (c == Double.class) {
            sb.append(Double.toString((Double) o));
        } else if (c == Float.class) {
            sb.append(Float.toString((Float) o));
        } else if (c == Date.class) {
            sb.append("Date(").append(((Date) o).getTime()).append(')');
        } else if (o instanceof Enum) {
            Enum<?> e = (Enum<?>) o;
            sb.append(e.getDeclaringClass().getName()).append('.').append(e.name());
        } else if (c == Class.class) {
            sb.append(((Class<?>) o).getTypeName()).append(".class");
        } else if (c.isArray() || c == ArrayList.class || c == LinkedList.class
                || c == HashMap.class || c == LinkedHashMap.class) {
            if (path.containsKey(o)) {
                sb.append("(cycle)");
                return;
            }
            path.put(o, Boolean.TRUE);
            if (c.isArray()) {
                List<Object> items = new ArrayList<>();
                for (int i = 0; i < Array.getLength(o); i++) {
                    items.add(Array.get(o, i));
                }
                list(items, sb, path);
            } else if (o instanceof List) {
                list((List<?>) o, sb, path);
            } else {
                map((Map<?, ?>) o, c == HashMap.class, sb, path);
            }
            path.remove(o);
        } else {
            sb.append(c.getName());
        }
    }

    private static void list(List<?> items, StringBuilder sb, IdentityHashMap<Object, Boolean> path) {
        sb.append('[');
        boolean first = true;
        for (Object item : items) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            print(item, sb, path);
        }
        sb.append(']');
    }

    private static void map(Map<?, ?> m, boolean sorted, StringBuilder sb,
            IdentityHashMap<Object, Boolean> path) {
        List<String[]> entries = new ArrayList<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            StringBuilder k = new StringBuilder();
            StringBuilder v = new StringBuilder();
            print(e.getKey(), k, path);
            print(e.getValue(), v, path);
            entries.add(new String[] {k.toString(), v.toString()});
        }
        if (sorted) {
            Collections.sort(entries, (a, b) -> {
                int d = a[0].compareTo(b[0]);
                return d != 0 ? d : a[1].compareTo(b[1]);
            });
        }
        sb.append('{');
        boolean first = true;
        for (String[] e : entries) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            sb.append(e[0]).append('=').append(e[1]);
        }
        sb.append('}');
    }

    private static void quote(String s, char q, StringBuilder sb) {
        sb.append(q);
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (Character.isHighSurrogate(ch) && i + 1 < s.length()
                    && Character.isLowSurrogate(s.charAt(i + 1))) {
                sb.append(ch).append(s.charAt(i + 1));
                i++;
            } else if (ch == q || ch == '\\') {
                sb.append('\\').append(ch);
            } else if (Character.isISOControl(ch) || Character.isSurrogate(ch)) {
                sb.append(String.format("\\u%04x", (int) ch));
            } else {
                sb.append(ch);
            }
        }
        sb.append(q);
    }
}
