//! A throwaway `redis-server` process: free ports, a private directory, readiness polling.

use std::env;
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod certs;

/// How long [`ServerBuilder::start`] and [`RedisServer::restart`] wait for
/// the server to answer `PING` before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between two readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How many sets of ports [`ServerBuilder::start`] tries. A port found free
/// can be taken by someone else before redis-server binds it.
const BIND_ATTEMPTS: usize = 5;

/// How far above its port a cluster node listens for the cluster bus; Redis
/// fixes it at 10000 unless `cluster-port` (Redis 7 and later) says otherwise.
const CLUSTER_BUS_OFFSET: u16 = 10000;

/// How many ports the kernel is asked for to find one whose cluster bus port
/// is free too. Most ephemeral ports qualify (the usual range ends at 60999,
/// and a bus port above 65535 cannot exist), so a few tries are enough.
const BUS_PORT_ATTEMPTS: usize = 64;

/// The second half of the message when no `redis-server` can be found.
const INSTALL_HINT: &str =
    "install it with `apt-get install -y redis-server` or point REDIS_SERVER_BIN at the binary";

/// A `redis-server` process of one's own, listening on free loopback ports.
///
/// The server runs with no persistence (`--save "" --appendonly no`), keeps
/// its files (log, Unix socket, certificates, ACL file) in a private
/// temporary directory, and is killed when this value is dropped, after which
/// the directory is removed.
///
/// ```no_run
/// let server = xtask::RedisServer::builder().password("secret").start()?;
/// let url = server.url(); // "redis://127.0.0.1:{port}"
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedisServer {
    options: ServerBuilder,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    unix_socket: Option<PathBuf>,
    tls: Option<TlsFiles>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with the default options and waits until it answers.
    ///
    /// The same as `RedisServer::builder().start()`; see [`ServerBuilder::start`].
    pub fn start() -> io::Result<RedisServer> {
        ServerBuilder::default().start()
    }

    /// Options for a server: password, ACL users, Unix socket, TLS, extra arguments.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The plain TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}`, without credentials.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port of the cluster bus, 10000 above [`port`](Self::port), if
    /// [`ServerBuilder::cluster_node`] made this server a cluster node.
    pub fn cluster_bus_port(&self) -> Option<u16> {
        if self.options.cluster_node {
            self.port.checked_add(CLUSTER_BUS_OFFSET)
        } else {
            None
        }
    }

    /// The path of the Unix socket, if [`ServerBuilder::unix_socket`] enabled it.
    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix_socket.as_deref()
    }

    /// The TLS port on 127.0.0.1, if [`ServerBuilder::tls`] enabled it.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|tls| tls.port)
    }

    /// The PEM file of the CA that signed the server certificate (and the
    /// client certificate), if TLS is enabled. Trust it to verify the server.
    ///
    /// The server certificate is valid for `localhost` and `127.0.0.1`.
    pub fn tls_ca_cert_pem(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca_cert.as_path())
    }

    /// The PEM file of a client certificate signed by the same CA, if TLS is
    /// enabled. Present it (with [`tls_client_key_pem`](Self::tls_client_key_pem))
    /// to test mutual TLS; the server also accepts clients without one.
    pub fn tls_client_cert_pem(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.client_cert.as_path())
    }

    /// The PEM file (PKCS#8) of the private key of
    /// [`tls_client_cert_pem`](Self::tls_client_cert_pem), if TLS is enabled.
    pub fn tls_client_key_pem(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.client_key.as_path())
    }

    /// Kills the server with `SIGKILL` and reaps it; the ports stay reserved
    /// for [`restart`](Self::restart). Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Both fail only if the process is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again, on the same port(s) and with the same
    /// options, and waits until it answers. Kills it first if it is running.
    ///
    /// The data is not kept: the server persists nothing.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.launch().map_err(Launch::into_error)
    }

    /// An outage as a crash makes it: kills the server (`SIGKILL`), keeps
    /// it down for `outage`, then restarts it as
    /// [`restart_timed`](Self::restart_timed) does, returning the moment it
    /// answered again. Blocks the thread throughout.
    pub fn restart_after(&mut self, outage: Duration) -> io::Result<Instant> {
        self.kill();
        thread::sleep(outage);
        self.restart_timed()
    }

    /// As [`restart`](Self::restart), and returns the moment the restarted
    /// server first answered `PING` to a probe that polls it in a tight
    /// loop (every 100 µs, from a thread of its own): the moment from which
    /// to measure how long a client takes to notice it is back.
    pub fn restart_timed(&mut self) -> io::Result<Instant> {
        self.kill();
        let port = self.port;
        let stop = Arc::new(AtomicBool::new(false));
        let probe = {
            let stop = stop.clone();
            thread::spawn(move || loop {
                if answers_ping(port) {
                    return Some(Instant::now());
                }
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                thread::sleep(Duration::from_micros(100));
            })
        };
        let launched = self.launch().map_err(Launch::into_error);
        stop.store(true, Ordering::Relaxed);
        let ready = probe.join().ok().flatten();
        launched?;
        ready.ok_or_else(|| io::Error::other("the probe never saw the restarted server answer"))
    }

    /// Stops the server with `SIGSTOP`: it keeps its sockets and the kernel
    /// still accepts connections, but nothing is answered until
    /// [`resume`](Self::resume). Returns once the process is stopped.
    /// Does nothing if the server is not running.
    ///
    /// # Panics
    ///
    /// If the signal cannot be sent (`kill` is missing), since a test that
    /// relies on a paused server would otherwise test nothing.
    pub fn pause(&self) {
        self.signal("STOP", true);
    }

    /// Continues a server stopped by [`pause`](Self::pause) with `SIGCONT`.
    /// Does nothing if the server is not running.
    ///
    /// # Panics
    ///
    /// If the signal cannot be sent, like [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal("CONT", false);
    }

    /// The contents of the server's log file so far, across restarts.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path(), 0)
    }

    /// The server's private directory (its log, sockets, certificates).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, while the server is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        // Nothing useful can be done from a destructor if the removal fails.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("tls_port", &self.tls_port())
            .field("unix_socket", &self.unix_socket)
            .field("pid", &self.pid())
            .field("dir", &self.dir)
            .finish()
    }
}

/// Options for a [`RedisServer`], from [`RedisServer::builder`].
///
/// ```no_run
/// let server = xtask::RedisServer::builder()
///     .password("secret")
///     .acl_user("alice on >wonderland ~* &* +@all")
///     .unix_socket()
///     .tls()
///     .arg("--maxmemory")
///     .arg("64mb")
///     .start()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ServerBuilder {
    password: Option<String>,
    acl_users: Vec<String>,
    unix_socket: bool,
    tls: bool,
    cluster_node: bool,
    sentinel: Option<String>,
    args: Vec<String>,
}

impl ServerBuilder {
    /// Requires this password for the `default` user (`requirepass`).
    ///
    /// Clients then get `-NOAUTH` until they send `AUTH <password>`.
    pub fn password(mut self, p: &str) -> Self {
        self.password = Some(p.to_owned());
        self
    }

    /// Adds an ACL user, given as the rest of an ACL file `user` line, e.g.
    /// `"alice on >secret ~* &* +@all"` (a leading `user ` is accepted too).
    ///
    /// The rules go into an ACL file in the server's directory. Unless one of
    /// the rules is for `default`, the file also keeps the `default` user with
    /// all permissions, protected by [`password`](Self::password) if one is
    /// set. Passwords containing spaces cannot be expressed this way.
    pub fn acl_user(mut self, rule_line: &str) -> Self {
        let rule = rule_line.trim();
        let rule = rule.strip_prefix("user ").unwrap_or(rule).trim_start();
        self.acl_users.push(rule.to_owned());
        self
    }

    /// Also listens on a Unix socket in the server's directory, with
    /// permissions 700 (see [`RedisServer::unix_socket`]).
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Also listens with TLS on a second free port (see
    /// [`RedisServer::tls_port`]), with a CA, a server certificate and a
    /// client certificate generated at start.
    ///
    /// Client certificates are optional (`tls-auth-clients optional`): a
    /// client may connect with plain server-authenticated TLS, or present
    /// [`RedisServer::tls_client_cert_pem`] for mutual TLS. The `redis-server`
    /// binary must have been built with TLS support.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Runs the server as a Redis Cluster node (`cluster-enabled yes`), with
    /// a node timeout of 1000 ms so that a failover takes seconds rather
    /// than the default's tens of seconds.
    ///
    /// The node keeps its cluster configuration (`nodes.conf`) in its own
    /// directory, so [`RedisServer::restart`] brings back the same node,
    /// which rejoins its cluster. Its port is picked so that the cluster bus
    /// port, 10000 higher, is free too. Replicas start their full sync at
    /// once instead of waiting for more replicas to share it.
    ///
    /// A node serves nothing until it is part of a cluster with slots;
    /// [`RedisCluster`](crate::RedisCluster) builds a whole one.
    pub fn cluster_node(mut self) -> Self {
        self.cluster_node = true;
        self
    }

    /// Runs the server as a Redis Sentinel (`redis-server <file> --sentinel`)
    /// whose configuration file starts out as `config`, e.g.
    /// `"sentinel monitor mymaster 127.0.0.1 6379 2\n"`.
    ///
    /// The file is written once, to the server's own directory, because a
    /// sentinel refuses to start without a configuration file it can write:
    /// it records there what it learns (its id, the other sentinels, the
    /// replicas, the current master). [`RedisServer::restart`] therefore
    /// brings back the same sentinel with what it knew. A sentinel answers
    /// `PING` like any server, so readiness is polled the same way.
    ///
    /// [`RedisSentinel`](crate::RedisSentinel) builds a whole monitored setup.
    pub fn sentinel(mut self, config: &str) -> Self {
        self.sentinel = Some(config.to_owned());
        self
    }

    /// Passes one more argument to `redis-server`, after all the others, so
    /// it can override them. An option and its value are two calls:
    /// `.arg("--maxmemory").arg("64mb")`.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    /// Starts the server and waits (at most about 10 s) until it answers `PING`.
    ///
    /// The binary is `REDIS_SERVER_BIN` if set, else `redis-server` from
    /// `PATH`; if there is none the error says how to install it. If the
    /// server exits or does not answer in time, the error carries its output.
    pub fn start(self) -> io::Result<RedisServer> {
        let bin = find_redis_server(env::var_os("REDIS_SERVER_BIN"), env::var_os("PATH"))?;
        let dir = create_private_dir()?;
        // From here on, dropping `server` removes `dir`, whatever fails.
        let mut server = RedisServer {
            options: self,
            bin,
            dir,
            port: 0,
            unix_socket: None,
            tls: None,
            child: None,
        };
        server.write_files()?;
        let mut attempt = 1;
        loop {
            let count = if server.tls.is_some() { 2 } else { 1 };
            let ports = free_ports(count, server.options.cluster_node)?;
            server.port = ports[0];
            if let Some(tls) = &mut server.tls {
                tls.port = ports[1];
            }
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(Launch::PortTaken(_)) if attempt < BIND_ATTEMPTS => attempt += 1,
                Err(failed) => return Err(failed.into_error()),
            }
        }
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password and the ACL rules (which hold passwords) stay out of logs.
        f.debug_struct("ServerBuilder")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("acl_users", &self.acl_users.len())
            .field("unix_socket", &self.unix_socket)
            .field("tls", &self.tls)
            .field("cluster_node", &self.cluster_node)
            .field("sentinel", &self.sentinel.is_some())
            .field("args", &self.args)
            .finish()
    }
}

/// Where the TLS files of a server are, and its TLS port.
struct TlsFiles {
    port: u16,
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// Why a launch failed: [`ServerBuilder::start`] retries on other ports
/// only when the ones it picked were taken.
enum Launch {
    PortTaken(io::Error),
    Failed(io::Error),
}

impl Launch {
    fn into_error(self) -> io::Error {
        match self {
            Launch::PortTaken(e) | Launch::Failed(e) => e,
        }
    }
}

impl RedisServer {
    /// The `redis-server` binary this server runs, so that tools of the same
    /// installation (`redis-cli`) can be found beside it.
    pub(crate) fn bin(&self) -> &Path {
        &self.bin
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    fn nodes_conf_path(&self) -> PathBuf {
        self.dir.join("nodes.conf")
    }

    fn sentinel_conf_path(&self) -> PathBuf {
        self.dir.join("sentinel.conf")
    }

    /// Where the process's stdout and stderr go: redis-server reports errors
    /// in its configuration there, before it opens its log file.
    fn stdio_path(&self) -> PathBuf {
        self.dir.join("stdio.log")
    }

    fn acl_path(&self) -> PathBuf {
        self.dir.join("users.acl")
    }

    /// Writes what the server reads at every start: the ACL file, the TLS
    /// certificates and a sentinel's configuration file.
    fn write_files(&mut self) -> io::Result<()> {
        if let Some(config) = &self.options.sentinel {
            fs::write(self.sentinel_conf_path(), config)?;
        }
        if self.options.unix_socket {
            self.unix_socket = Some(self.dir.join("redis.sock"));
        }
        if !self.options.acl_users.is_empty() {
            let acl = acl_file(self.options.password.as_deref(), &self.options.acl_users);
            fs::write(self.acl_path(), acl)?;
        }
        if self.options.tls {
            let material = certs::generate()?;
            let tls = TlsFiles {
                port: 0,
                ca_cert: self.dir.join("ca.crt"),
                server_cert: self.dir.join("server.crt"),
                server_key: self.dir.join("server.key"),
                client_cert: self.dir.join("client.crt"),
                client_key: self.dir.join("client.key"),
            };
            fs::write(&tls.ca_cert, material.ca_cert)?;
            fs::write(&tls.server_cert, material.server_cert)?;
            fs::write(&tls.server_key, material.server_key)?;
            fs::write(&tls.client_cert, material.client_cert)?;
            fs::write(&tls.client_key, material.client_key)?;
            self.tls = Some(tls);
        }
        Ok(())
    }

    fn command(&self) -> io::Result<Command> {
        let mut cmd = Command::new(&self.bin);
        if self.options.sentinel.is_some() {
            // redis-server takes a configuration file only as its first argument.
            cmd.arg(self.sentinel_conf_path()).arg("--sentinel");
        }
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.log_path());
        if !self.options.acl_users.is_empty() {
            // The ACL file replaces the default user, password included.
            cmd.arg("--aclfile").arg(self.acl_path());
        } else if let Some(password) = &self.options.password {
            cmd.arg("--requirepass").arg(password);
        }
        if let Some(socket) = &self.unix_socket {
            cmd.arg("--unixsocket")
                .arg(socket)
                .args(["--unixsocketperm", "700"]);
        }
        if let Some(tls) = &self.tls {
            cmd.arg("--tls-port")
                .arg(tls.port.to_string())
                .arg("--tls-cert-file")
                .arg(&tls.server_cert)
                .arg("--tls-key-file")
                .arg(&tls.server_key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca_cert)
                .args(["--tls-auth-clients", "optional"]);
        }
        if self.options.cluster_node {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .arg("--cluster-config-file")
                .arg(self.nodes_conf_path())
                .args(["--repl-diskless-sync-delay", "0"]);
        }
        cmd.args(&self.options.args);
        let stdio = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stdio_path())?;
        cmd.stdin(Stdio::null())
            .stdout(stdio.try_clone()?)
            .stderr(stdio);
        Ok(cmd)
    }

    /// Spawns the process on the current ports and waits until it answers.
    fn launch(&mut self) -> Result<(), Launch> {
        let log_start = file_len(&self.log_path());
        let stdio_start = file_len(&self.stdio_path());
        let mut child = self
            .command()
            .and_then(|mut cmd| cmd.spawn())
            .map_err(|e| {
                Launch::Failed(io::Error::new(
                    e.kind(),
                    format!("cannot run {}: {e}", self.bin.display()),
                ))
            })?;
        let reason = match self.wait_ready(&mut child) {
            Ok(()) => {
                self.child = Some(child);
                return Ok(());
            }
            Err(reason) => reason,
        };
        let _ = child.kill();
        let _ = child.wait();
        let output = format!(
            "{}{}",
            read_lossy(&self.stdio_path(), stdio_start),
            read_lossy(&self.log_path(), log_start)
        );
        let port_taken = output.contains("Address already in use");
        let error = io::Error::other(format!(
            "{reason}\n--- redis-server output ({}) ---\n{}",
            self.bin.display(),
            output.trim_end()
        ));
        Err(if port_taken {
            Launch::PortTaken(error)
        } else {
            Launch::Failed(error)
        })
    }

    /// Polls until the server answers `PING` on its TCP port, or says why not.
    fn wait_ready(&self, child: &mut Child) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "redis-server exited ({status}) before it was ready"
                    ));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("cannot check on redis-server: {e}")),
            }
            if answers_ping(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer PING on 127.0.0.1:{} within {} s",
                    self.port,
                    READY_TIMEOUT.as_secs()
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn signal(&self, name: &str, stopped: bool) {
        let Some(pid) = self.pid() else { return };
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status();
        match status {
            Ok(status) if status.success() => {}
            other => panic!("cannot send SIG{name} to redis-server (pid {pid}): {other:?}"),
        }
        wait_for_stop_state(pid, stopped);
    }
}

/// Finds the `redis-server` binary: `explicit` (the value of
/// `REDIS_SERVER_BIN`) if given, else the first one on `path`.
fn find_redis_server(explicit: Option<OsString>, path: Option<OsString>) -> io::Result<PathBuf> {
    let search = |name: &Path| search_path(name, path.as_ref());
    if let Some(bin) = explicit.filter(|bin| !bin.is_empty()) {
        let bin = PathBuf::from(bin);
        let found = if bin.components().count() == 1 && !bin.is_absolute() {
            search(&bin)
        } else {
            Some(bin.clone()).filter(|bin| is_executable(bin))
        };
        return found.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "REDIS_SERVER_BIN={} is not an executable; {INSTALL_HINT}",
                    bin.display()
                ),
            )
        });
    }
    search(Path::new("redis-server")).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("redis-server not found on PATH; {INSTALL_HINT}"),
        )
    })
}

/// The first executable called `name` in the directories of `path` (the
/// value of `PATH`).
pub(crate) fn search_path(name: &Path, path: Option<&OsString>) -> Option<PathBuf> {
    path.into_iter()
        .flat_map(env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Creates a new directory only this user can read, under the system's
/// temporary directory.
pub(crate) fn create_private_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = env::temp_dir();
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("xtask-redis-{}-{n}-{nanos:08x}", process::id()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", dir.display()),
                ));
            }
        }
    }
}

/// `count` distinct ports that were free a moment ago on 127.0.0.1; with
/// `cluster_bus`, the first one's cluster bus port (10000 higher) was free
/// too and is none of the others. Holding all the listeners at once keeps
/// the kernel from handing out the same port twice.
fn free_ports(count: usize, cluster_bus: bool) -> io::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(count);
    if cluster_bus && count > 0 {
        ports.push(free_port_with_bus(&mut held)?);
    }
    while ports.len() < count {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        ports.push(listener.local_addr()?.port());
        held.push(listener);
    }
    Ok(ports)
}

/// A free port whose cluster bus port is free too, both held in `held`.
///
/// The kernel picks the port, as for any server, and the bus port is then
/// tried. Ports that do not fit stay held until the caller is done, so the
/// kernel offers a different one each time.
fn free_port_with_bus(held: &mut Vec<TcpListener>) -> io::Result<u16> {
    for _ in 0..BUS_PORT_ATTEMPTS {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        held.push(listener);
        let Some(bus) = port.checked_add(CLUSTER_BUS_OFFSET) else {
            continue;
        };
        if let Ok(bus_listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, bus)) {
            held.push(bus_listener);
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!(
            "found no free port on 127.0.0.1 whose cluster bus port ({CLUSTER_BUS_OFFSET} higher) \
             is free too in {BUS_PORT_ATTEMPTS} tries; the ephemeral ports \
             (/proc/sys/net/ipv4/ip_local_port_range) must reach below {}",
            u16::MAX - CLUSTER_BUS_OFFSET + 1
        ),
    ))
}

/// Whether a server on `port` is up: it answers `PING` with `+PONG`, or
/// refuses it for want of authentication or permission.
fn answers_ping(port: u16) -> bool {
    let probe = || -> io::Result<bool> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.set_write_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = Vec::new();
        let mut buf = [0; 64];
        while !reply.contains(&b'\n') && reply.len() < 256 {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
        Ok(reply.starts_with(b"+PONG")
            || reply.starts_with(b"-NOAUTH")
            || reply.starts_with(b"-NOPERM"))
    };
    probe().unwrap_or(false)
}

/// Waits (at most a second) until `/proc` shows the process stopped or
/// running, as asked. Signals are delivered asynchronously; without `/proc`
/// this returns at once.
fn wait_for_stop_state(pid: u32, stopped: bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return;
        };
        // The state follows the command name, which is in parentheses and
        // may itself contain spaces or parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        let is_stopped = matches!(state, Some('T' | 't'));
        if state.is_none() || is_stopped == stopped {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The ACL file for `rules`, keeping the `default` user usable (with
/// `password`, if any) unless one of the rules is about it.
fn acl_file(password: Option<&str>, rules: &[String]) -> String {
    let mut file = String::new();
    let defines_default = rules
        .iter()
        .any(|rule| rule.split_whitespace().next() == Some("default"));
    if !defines_default {
        let auth = match password {
            Some(password) => format!(">{password}"),
            None => "nopass".to_owned(),
        };
        // Writing to a String cannot fail.
        let _ = writeln!(file, "user default on {auth} ~* &* +@all");
    }
    for rule in rules {
        let _ = writeln!(file, "user {rule}");
    }
    file
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |meta| meta.len())
}

/// The text of a file from byte `start` on; empty if it cannot be read.
fn read_lossy(path: &Path, start: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_file_keeps_default_user_with_password() {
        let rules = vec!["alice on >secret ~* &* +@all".to_owned()];
        assert_eq!(
            acl_file(Some("pw"), &rules),
            "user default on >pw ~* &* +@all\nuser alice on >secret ~* &* +@all\n"
        );
        assert_eq!(
            acl_file(None, &rules),
            "user default on nopass ~* &* +@all\nuser alice on >secret ~* &* +@all\n"
        );
    }

    #[test]
    fn acl_file_lets_a_rule_replace_the_default_user() {
        let rules = vec!["default off".to_owned()];
        assert_eq!(acl_file(Some("pw"), &rules), "user default off\n");
    }

    #[test]
    fn acl_user_accepts_a_leading_user_keyword() {
        let builder = ServerBuilder::default()
            .acl_user("user bob on nopass +@all")
            .acl_user("  carol on nopass +@all ");
        assert_eq!(
            builder.acl_users,
            ["bob on nopass +@all", "carol on nopass +@all"]
        );
    }

    #[test]
    fn missing_binary_says_how_to_install_it() {
        let empty = env::temp_dir().join("xtask-no-such-dir");
        let error = find_redis_server(None, Some(empty.clone().into())).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let message = error.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(
            message.contains("apt-get install -y redis-server"),
            "{message}"
        );

        let error = find_redis_server(Some(empty.join("redis-server").into()), None).unwrap_err();
        assert!(error.to_string().contains("REDIS_SERVER_BIN"), "{error}");
    }

    #[test]
    fn binary_is_found_by_name_on_path() {
        let dir = create_private_dir().unwrap();
        let bin = dir.join("my-redis");
        fs::write(&bin, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let found = find_redis_server(Some("my-redis".into()), Some(dir.clone().into()));
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.unwrap(), bin);
    }

    #[test]
    fn cluster_ports_leave_room_for_the_bus() {
        let ports = free_ports(3, true).unwrap();
        assert_eq!(ports.len(), 3);
        let bus = ports[0] + CLUSTER_BUS_OFFSET;
        assert!(!ports.contains(&bus), "{ports:?}");
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{ports:?}");
    }

    #[test]
    fn debug_hides_secrets() {
        let builder = ServerBuilder::default()
            .password("hunter2")
            .acl_user("alice on >hunter3");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("hunter"), "{debug}");
    }
}
