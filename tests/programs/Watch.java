// Java's WatchService sees a file made in directory args[0]; then a child
// started with ProcessBuilder has its stdout, stderr and exit status read.
import java.nio.file.*;
import java.io.*;
public class Watch {
  public static void main(String[] a) throws Exception {
    Path d = Paths.get(a[0]);
    WatchService ws = FileSystems.getDefault().newWatchService();
    d.register(ws, StandardWatchEventKinds.ENTRY_CREATE);
    Files.write(d.resolve("hello.txt"), "x".getBytes());
    WatchKey k = ws.take();
    for (WatchEvent<?> e : k.pollEvents()) System.out.println(e.kind() + " " + e.context());
    Process p = new ProcessBuilder("sh", "-c", "echo child-out; echo child-err >&2; exit 3").start();
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
    System.out.println("out: " + r.readLine());
    BufferedReader e2 = new BufferedReader(new InputStreamReader(p.getErrorStream()));
    System.out.println("err: " + e2.readLine());
    System.out.println("exit: " + p.waitFor());
  }
}
