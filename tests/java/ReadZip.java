import java.io.FileInputStream;
import java.io.InputStream;
import java.util.Enumeration;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;

/**
 * Reads a zip the two ways DL4J does (ZipFile for files, ZipInputStream for streams) and prints,
 * for each, one line per entry: reader, name, method, size and the CRC-32 of the bytes read.
 */
public class ReadZip {
    static long[] drain(InputStream in) throws Exception {
        CRC32 crc = new CRC32();
        byte[] buf = new byte[1 << 16];
        long n = 0;
        for (int k; (k = in.read(buf)) > 0; ) {
            crc.update(buf, 0, k);
            n += k;
        }
        return new long[] {n, crc.getValue()};
    }

    public static void main(String[] args) throws Exception {
        try (ZipFile zf = new ZipFile(args[0])) {
            Enumeration<? extends ZipEntry> en = zf.entries();
            while (en.hasMoreElements()) {
                ZipEntry e = en.nextElement();
                try (InputStream in = zf.getInputStream(e)) {
                    long[] r = drain(in);
                    System.out.println("file " + e.getName() + " " + e.getMethod() + " " + r[0] + " " + Long.toHexString(r[1]));
                }
            }
        }
        try (ZipInputStream zin = new ZipInputStream(new FileInputStream(args[0]))) {
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                long[] r = drain(zin);
                System.out.println("stream " + e.getName() + " " + e.getMethod() + " " + r[0] + " " + Long.toHexString(r[1]));
            }
        }
    }
}
