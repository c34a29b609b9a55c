//! Test program for `-yy`: a TCP connection over loopback (listen, connect, accept, one byte
//! each way) and a UDP socket sending to itself.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};

fn main() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    a.read_exact(&mut b).unwrap();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"q", u.local_addr().unwrap()).unwrap();
    u.recv(&mut b).unwrap();
}
