//! `ruchytrace instrument` on files and directories, and the `Traceable` derive on hand-written code.

use ruchytrace::cli::instrument::{run, InstrumentArgs};
use std::path::Path;

fn args(input: &Path) -> InstrumentArgs {
    InstrumentArgs {
        input: input.to_path_buf(),
        output: None,
        in_place: false,
        location_map: None,
    }
}

const GENERATED: &str = "// generated\n#[derive(Clone)]\nstruct User {\n    id: i64, // the id\n}\n\nfn  odd_spacing( u : User ) -> i64 { u.id }\n\nfn main() {\n    println!(\"{}\", odd_spacing(User { id: 1 }));\n}\n";

#[test]
fn directory_to_output_directory_with_a_ruchy_location_map() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("nested")).unwrap();
    std::fs::write(src.join("main.rs"), GENERATED).unwrap();
    std::fs::write(src.join("nested/lib.rs"), "pub const fn k() -> i32 { 1 }\n").unwrap();
    std::fs::write(src.join("notes.txt"), "fn not_rust(").unwrap();
    let ruchy = dir.path().join("prog.ruchy");
    std::fs::write(
        &ruchy,
        "struct User { id: i64 }\n\nfun odd_spacing(u: User) -> i64 {\n    u.id\n}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut a = args(&src);
    a.output = Some(out.clone());
    a.location_map = Some(ruchy.clone());
    assert_eq!(run(a).unwrap(), 0);
    let main = std::fs::read_to_string(out.join("main.rs")).unwrap();
    let loc = format!("{}:3:5", ruchy.display());
    assert_eq!(
        main,
        format!(
            "// generated\n#[derive(Clone, ruchytrace::Traceable)]\nstruct User {{\n    id: i64, // the id\n}}\n\n#[ruchytrace::trace(location = {loc:?})]\nfn  odd_spacing( u : User ) -> i64 {{ u.id }}\n\n#[ruchytrace::trace]\nfn main() {{\n    println!(\"{{}}\", odd_spacing(User {{ id: 1 }}));\n}}\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(out.join("nested/lib.rs")).unwrap(),
        "pub const fn k() -> i32 { 1 }\n"
    );
    assert!(!out.join("notes.txt").exists());
}

#[test]
fn in_place_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("gen.rs");
    std::fs::write(&f, GENERATED).unwrap();
    let mut a = args(&f);
    a.in_place = true;
    run(a).unwrap();
    let once = std::fs::read_to_string(&f).unwrap();
    assert_ne!(once, GENERATED);
    let mut a = args(&f);
    a.in_place = true;
    run(a).unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), once);
}

#[test]
fn errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.rs");
    std::fs::write(&f, "fn fine() {}\n\nfn broken(x: i32 {\n}\n").unwrap();
    let err = format!("{:#}", run(args(&f)).unwrap_err());
    assert!(err.starts_with(&format!("{}:3:", f.display())), "{err}");
    assert!(err.contains("not valid Rust"), "{err}");

    let err = format!("{:#}", run(args(dir.path())).unwrap_err());
    assert!(err.contains("needs -o OUT_DIR or --in-place"), "{err}");

    let map = dir.path().join("map.txt");
    std::fs::write(&map, "fibonacci=fib.ruchy:1\n").unwrap();
    let mut a = args(&f);
    a.location_map = Some(map);
    let err = format!("{:#}", run(a).unwrap_err());
    assert!(
        err.contains("map.txt: line 1: expected FILE:LINE:COLUMN"),
        "{err}"
    );
}

/// The derive on hand-written code: fields of any type, nested, generic, enums.
#[cfg(feature = "trace")]
mod derive {
    use ruchytrace::runtime::testing;
    use ruchytrace::Traceable;

    struct NoDebug;

    #[derive(Traceable)]
    struct Address {
        city: &'static str,
    }

    #[derive(Traceable)]
    struct User {
        id: u64,
        name: String,
        home: Address,
        tags: Vec<&'static str>,
        secret: NoDebug,
    }

    #[derive(Traceable)]
    enum Shape {
        Circle(f64),
        Rect { w: u32, h: u32 },
        Empty,
    }

    #[derive(Traceable)]
    struct Wrapper<T>(T, i32);

    #[ruchytrace::trace]
    fn take(u: &User, s: Shape, w: Wrapper<String>) -> Shape {
        let _ = (u, w);
        s
    }

    trait Greet {
        #[ruchytrace::trace(name = "Greet::hi")]
        fn hi(&self, n: i32) -> i32 {
            n + 1
        }
    }
    impl Greet for Address {}

    #[test]
    fn trait_default_methods_can_be_traced() {
        let events = testing::capture(|| {
            Address { city: "Rome" }.hi(1);
        });
        let text = testing::render(&events);
        // `Self` has no bounds in a default method: the receiver is shown by its type name.
        assert!(
            text.contains("-> Greet::hi(self=<&instrument::derive::Address>, n=1)"),
            "{text}"
        );
        assert!(text.contains("<- Greet::hi() = 2"), "{text}");
    }

    #[test]
    fn values_show_field_by_field() {
        let events = testing::capture(|| {
            let u = User {
                id: 42,
                name: "Alice".into(),
                home: Address { city: "Oslo" },
                tags: vec!["a"],
                secret: NoDebug,
            };
            take(&u, Shape::Rect { w: 2, h: 3 }, Wrapper("x".into(), 7));
            take(&u, Shape::Circle(1.5), Wrapper("y".into(), 8));
            take(&u, Shape::Empty, Wrapper("z".into(), 9));
        });
        let text = testing::render(&events);
        assert!(
            text.contains("-> take(u=User { id: 42, name: \"Alice\", home: Address { city: \"Oslo\" }, tags: [\"a\"], secret: <"),
            "{text}"
        );
        assert!(text.contains("s=Shape::Rect { w: 2, h: 3 }"), "{text}");
        // A generic field is shown by its type name; concrete fields by value.
        assert!(
            text.contains("w=Wrapper(<alloc::string::String>, 7)"),
            "{text}"
        );
        assert!(text.contains("<- take() = Shape::Circle(1.5)"), "{text}");
        assert!(text.contains("<- take() = Shape::Empty"), "{text}");
    }
}
