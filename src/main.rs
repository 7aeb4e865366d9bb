fn main() { println!("deja"); }
