//! Byte-exact serialization against streams captured from `ObjectOutputStream` (JDK 17 and 25
//! write the same bytes), display of JDK-written streams, and parser robustness.

use super::*;
use crate::error::Error;

// Captured with `new ObjectOutputStream(b).writeObject(x)`; each String was a distinct object
// (`new String(...)`) unless said otherwise.
// "hi"
// "a\0é€😀"
// Integer -2, Long.MIN_VALUE, Double 0.5, Double.NaN, Boolean.TRUE
// String[] {"a", "", "ü"}, int[] {1, -1}, double[] {1.5}
// ArrayList ["x", "x"], empty ArrayList
// HashMap: put("b", "1"), put("a", "2"); empty HashMap
// HashMap: put("k0", "v0") ... put("k12", "v12") (resized to 32 buckets, threshold 24)
// HashMap: 16 keys of equal hashCode ("AaAaBBBB", ...; a tree bin) then "x" and "y", all -> ""
// HashMap: put("b", "1"), put("a", "2"), put("b", "3")
const STR_HI: &str = "aced00057400026869";
const STR_NUL: &str = "aced000574000e61c080c3a9e282aceda0bdedb880";
const INT: &str = concat!(
    "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565",
    "787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870fffffffe",
);
const LONG: &str = concat!(
    "aced00057372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200",
    "106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078708000000000000000",
);
const DOUBLE: &str = concat!(
    "aced0005737200106a6176612e6c616e672e446f75626c6580b3c24a296bfb0402000144000576616c756578",
    "7200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078703fe0000000000000",
);
const NAN: &str = concat!(
    "aced0005737200106a6176612e6c616e672e446f75626c6580b3c24a296bfb0402000144000576616c756578",
    "7200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078707ff8000000000000",
);
const BOOL: &str = concat!(
    "aced0005737200116a6176612e6c616e672e426f6f6c65616ecd207280d59cfaee0200015a000576616c7565",
    "787001",
);
const STRARR: &str = concat!(
    "aced0005757200135b4c6a6176612e6c616e672e537472696e673badd256e7e91d7b47020000787000000003",
    "74000161740000740002c3bc",
);
const INTARR: &str = "aced0005757200025b494dba602676eab2a502000078700000000200000001ffffffff";
const DBLARR: &str = "aced0005757200025b443ea68c14ab635a1e0200007870000000013ff8000000000000";
const LIST: &str = concat!(
    "aced0005737200136a6176612e7574696c2e41727261794c6973747881d21d99c7619d03000149000473697a",
    "65787000000002770400000002740001787400017878",
);
const EMPTYLIST: &str = concat!(
    "aced0005737200136a6176612e7574696c2e41727261794c6973747881d21d99c7619d03000149000473697a",
    "6578700000000077040000000078",
);
const MAP: &str = concat!(
    "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f616446",
    "6163746f724900097468726573686f6c6478703f4000000000000c7708000000100000000274000161740001",
    "32740001627400013178",
);
const EMPTYMAP: &str = concat!(
    "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f616446",
    "6163746f724900097468726573686f6c6478703f400000000000007708000000100000000078",
);
const MAP13: &str = concat!(
    "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f616446",
    "6163746f724900097468726573686f6c6478703f400000000000187708000000200000000d7400026b307400",
    "0276307400026b3174000276317400026b3274000276327400026b3374000276337400026b34740002763474",
    "00026b3574000276357400036b31317400037631317400026b3674000276367400036b313074000376313074",
    "00026b3774000276377400026b3874000276387400036b31327400037631327400026b39740002763978",
);
const TREE: &str = concat!(
    "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f616446",
    "6163746f724900097468726573686f6c6478703f400000000000307708000000400000001274000842424161",
    "4242424274000074000841614161424242427400007400084161416142424161740000740008424242424242",
    "4161740000740008424242424242424274000074000841614242424242427400007400084242416141614242",
    "7400007400084242416142424161740000740008424242424161424274000074000841614242416141617400",
    "0074000841614242416142427400007400084161424242424161740000740008424242424161416174000074",
    "0008424241614161416174000074000841614161416142427400007400084161416141614161740000740001",
    "787400007400017974000078",
);
const DUP: &str = concat!(
    "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f616446",
    "6163746f724900097468726573686f6c6478703f4000000000000c7708000000100000000274000161740001",
    "32740001627400013378",
);

// For display only:
// String[] {"a", "a", null} (one object twice: a back-reference)
// ArrayList of one string literal twice (a back-reference)
// Short -3, Byte 7, Float 1.5f, Character '\'', new Date(1577836800000L)
// LinkedList [1, null, "s"]
// Object[] {1L, new int[] {2}, DayOfWeek.MONDAY, String.class, int.class}
// char[] {'a', '\uD800'}, boolean[] {true, false}, byte[] {-1, 2}, short[] {-1, 2},
// long[] {-1, 2}, float[] {-1.5f, Float.NaN}, null
// ArrayList a; a.add(a)
// LinkedHashMap: put("z", 1), put(2L, new Date(0)), put(null, new short[] {-1}),
//   put(1.5f, DayOfWeek.MONDAY)
// HashMap: put("b", 'x'), put("a", (byte) -1), put(7, Arrays.asList(1)), put("😀", "\uD800")
// new BigInteger("5")
const STRARR_NULL: &str = concat!(
    "aced0005757200135b4c6a6176612e6c616e672e537472696e673badd256e7e91d7b47020000787000000003",
    "740001617400016170",
);
const LITERAL_LIST: &str = concat!(
    "aced0005737200136a6176612e7574696c2e41727261794c6973747881d21d99c7619d03000149000473697a",
    "6578700000000277040000000274000473616d6571007e000278",
);
const SHORT: &str = concat!(
    "aced00057372000f6a6176612e6c616e672e53686f7274684d37133460da5202000153000576616c75657872",
    "00106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870fffd",
);
const BYTE: &str = concat!(
    "aced00057372000e6a6176612e6c616e672e427974659c4e6084ee50f51c02000142000576616c7565787200",
    "106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787007",
);
const FLOAT: &str = concat!(
    "aced00057372000f6a6176612e6c616e672e466c6f6174daedc9a2db3cf0ec02000146000576616c75657872",
    "00106a6176612e6c616e672e4e756d62657286ac951d0b94e08b02000078703fc00000",
);
const CHAR: &str = concat!(
    "aced0005737200136a6176612e6c616e672e436861726163746572348b47d96b1a267802000143000576616c",
    "756578700027",
);
const DATE: &str = concat!(
    "aced00057372000e6a6176612e7574696c2e44617465686a81014b597419030000787077080000016f5e66e8",
    "0078",
);
const LINKEDLIST: &str = concat!(
    "aced0005737200146a6176612e7574696c2e4c696e6b65644c6973740c29535d4a6088220300007870770400",
    "000003737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c756578",
    "7200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787000000001707400017378",
);
const OBJARR: &str = concat!(
    "aced0005757200135b4c6a6176612e6c616e672e4f626a6563743b90ce589f1073296c020000787000000005",
    "7372000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200106a6176",
    "612e6c616e672e4e756d62657286ac951d0b94e08b02000078700000000000000001757200025b494dba6026",
    "76eab2a5020000787000000001000000027e7200136a6176612e74696d652e4461794f665765656b00000000",
    "000000001200007872000e6a6176612e6c616e672e456e756d000000000000000012000078707400064d4f4e",
    "444159767200106a6176612e6c616e672e537472696e67a0f0a4387a3bb342020000787076720003696e7400",
    "000000000000000000007870",
);
const CHARARR: &str = "aced0005757200025b43b02666b0e25d84ac0200007870000000020061d800";
const BOOLARR: &str = "aced0005757200025b5a578f203914b85de20200007870000000020100";
const BYTEARR: &str = "aced0005757200025b42acf317f8060854e0020000787000000002ff02";
const SHORTARR: &str = "aced0005757200025b53ef832e06e55db0fa020000787000000002ffff0002";
const LONGARR: &str =
    "aced0005757200025b4a782004b512b17593020000787000000002ffffffffffffffff0000000000000002";
const FLOATARR: &str = "aced0005757200025b460b9c818922e00c42020000787000000002bfc000007fc00000";
const NULL: &str = "aced000570";
const SELFLIST: &str = concat!(
    "aced0005737200136a6176612e7574696c2e41727261794c6973747881d21d99c7619d03000149000473697a",
    "6578700000000177040000000171007e000178",
);
const LHM: &str = concat!(
    "aced0005737200176a6176612e7574696c2e4c696e6b6564486173684d617034c04e5c106cc0fb0200015a00",
    "0b6163636573734f72646572787200116a6176612e7574696c2e486173684d61700507dac1c31660d1030002",
    "46000a6c6f6164466163746f724900097468726573686f6c6478703f4000000000000c770800000010000000",
    "047400017a737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c75",
    "65787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870000000017372000e6a61",
    "76612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c75657871007e000500000000000000",
    "027372000e6a6176612e7574696c2e44617465686a81014b5974190300007870770800000000000000007870",
    "757200025b53ef832e06e55db0fa020000787000000001ffff7372000f6a6176612e6c616e672e466c6f6174",
    "daedc9a2db3cf0ec02000146000576616c75657871007e00053fc000007e7200136a6176612e74696d652e44",
    "61794f665765656b00000000000000001200007872000e6a6176612e6c616e672e456e756d00000000000000",
    "0012000078707400064d4f4e4441597800",
);
const HM: &str = concat!(
    "aced0005737200116a6176612e7574696c2e486173684d61700507dac1c31660d103000246000a6c6f616446",
    "6163746f724900097468726573686f6c6478703f4000000000000c7708000000100000000474000161737200",
    "0e6a6176612e6c616e672e427974659c4e6084ee50f51c02000142000576616c7565787200106a6176612e6c",
    "616e672e4e756d62657286ac951d0b94e08b0200007870ff74000162737200136a6176612e6c616e672e4368",
    "61726163746572348b47d96b1a267802000143000576616c756578700078737200116a6176612e6c616e672e",
    "496e746567657212e2a0a4f781873802000149000576616c75657871007e0004000000077372001a6a617661",
    "2e7574696c2e4172726179732441727261794c697374d9a43cbecd8806d20200015b0001617400135b4c6a61",
    "76612f6c616e672f4f626a6563743b7870757200145b4c6a6176612e6c616e672e496e74656765723bfe97ad",
    "a00183e21b0200007870000000017371007e000900000001740006eda0bdedb880740003eda08078",
);
const BIGINT: &str = concat!(
    "aced0005737200146a6176612e6d6174682e426967496e74656765728cfc9f1fa93bfb1d0300064900086269",
    "74436f756e744900096269744c656e67746849001366697273744e6f6e7a65726f427974654e756d49000c6c",
    "6f776573745365744269744900067369676e756d5b00096d61676e69747564657400025b42787200106a6176",
    "612e6c616e672e4e756d62657286ac951d0b94e08b0200007870fffffffffffffffffffffffefffffffe0000",
    "0001757200025b42acf317f8060854e00200007870000000010578",
);

/// Hex digits to bytes; spaces are ignored.
fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}

fn pairs(xs: &[(&str, &str)]) -> Vec<(String, String)> {
    xs.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn serialize_is_byte_identical_to_the_jdk() {
    let tree_keys = [
        "AaAaBBBB", "BBBBBBAa", "AaBBBBBB", "BBAaAaBB", "BBBBAaBB", "BBAaBBBB", "AaBBAaAa",
        "AaBBAaBB", "BBBBAaAa", "BBAaAaAa", "AaAaAaBB", "AaAaAaAa", "BBBBBBBB", "AaBBBBAa",
        "AaAaBBAa", "BBAaBBAa", "x", "y",
    ];
    let map13: Vec<(String, String)> = (0..13)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let cases: Vec<(&str, JavaValue, &str)> = vec![
        ("hi", JavaValue::String(s("hi")), STR_HI),
        ("nul", JavaValue::String(s("a\0é€😀")), STR_NUL),
        ("int", JavaValue::Integer(-2), INT),
        ("long", JavaValue::Long(i64::MIN), LONG),
        ("double", JavaValue::Double(0.5), DOUBLE),
        (
            "nan",
            JavaValue::Double(f64::from_bits(0x7ff0_0000_0000_0001)),
            NAN,
        ),
        ("bool", JavaValue::Boolean(true), BOOL),
        (
            "strarr",
            JavaValue::StringArray(strings(&["a", "", "ü"])),
            STRARR,
        ),
        ("intarr", JavaValue::IntArray(vec![1, -1]), INTARR),
        ("dblarr", JavaValue::DoubleArray(vec![1.5]), DBLARR),
        ("list", JavaValue::StringList(strings(&["x", "x"])), LIST),
        ("emptylist", JavaValue::StringList(vec![]), EMPTYLIST),
        (
            "map",
            JavaValue::StringMap(pairs(&[("b", "1"), ("a", "2")])),
            MAP,
        ),
        ("emptymap", JavaValue::StringMap(vec![]), EMPTYMAP),
        ("map13", JavaValue::StringMap(map13), MAP13),
        (
            "tree",
            JavaValue::StringMap(tree_keys.iter().map(|k| (s(k), s(""))).collect()),
            TREE,
        ),
        (
            "dup",
            JavaValue::StringMap(pairs(&[("b", "1"), ("a", "2"), ("b", "3")])),
            DUP,
        ),
    ];
    for (name, v, hex) in cases {
        assert_eq!(serialize(&v), unhex(hex), "{name}");
    }
}

#[test]
fn long_strings_use_tc_longstring() {
    let short = serialize(&JavaValue::String("x".repeat(65535)));
    assert_eq!(&short[4..7], &[TC_STRING, 0xFF, 0xFF]);
    // As ObjectOutputStream.writeObject of 70000 'x' starts (captured).
    let long = serialize(&JavaValue::String("x".repeat(70000)));
    assert_eq!(long.len(), 70013);
    assert_eq!(
        &long[..20],
        &unhex("aced00057c000000000001117078787878787878")[..]
    );
    // The limit is on modified UTF-8 bytes, not characters: 40000 'é' are 80000 bytes.
    let wide = serialize(&JavaValue::String("é".repeat(40000)));
    assert_eq!(wide[4], TC_LONGSTRING);
    assert_eq!(
        display(&wide).unwrap(),
        format!("\"{}\"", "é".repeat(40000))
    );
    assert_eq!(class_name(&wide).unwrap(), "java.lang.String");
}

#[test]
fn displays_jdk_streams() {
    let cases: &[(&str, &str)] = &[
        (STR_HI, r#""hi""#),
        (STR_NUL, r#""a\u0000é€😀""#),
        (INT, "-2"),
        (LONG, "-9223372036854775808"),
        (DOUBLE, "0.5"),
        (NAN, "NaN"),
        (BOOL, "true"),
        (STRARR, r#"["a", "", "ü"]"#),
        (INTARR, "[1, -1]"),
        (DBLARR, "[1.5]"),
        (LIST, r#"["x", "x"]"#),
        (EMPTYLIST, "[]"),
        (MAP, r#"{"a"="2", "b"="1"}"#),
        (EMPTYMAP, "{}"),
        (DUP, r#"{"a"="2", "b"="3"}"#),
        (STRARR_NULL, r#"["a", "a", null]"#),
        (LITERAL_LIST, r#"["same", "same"]"#),
        (SHORT, "-3"),
        (BYTE, "7"),
        (FLOAT, "1.5"),
        (CHAR, r"'\''"),
        (DATE, "Date(1577836800000)"),
        (LINKEDLIST, r#"[1, null, "s"]"#),
        (
            OBJARR,
            "[1, [2], java.time.DayOfWeek.MONDAY, java.lang.String.class, int.class]",
        ),
        (CHARARR, r"['a', '\ud800']"),
        (BOOLARR, "[true, false]"),
        (BYTEARR, "[-1, 2]"),
        (SHORTARR, "[-1, 2]"),
        (LONGARR, "[-1, 2]"),
        (FLOATARR, "[-1.5, NaN]"),
        (NULL, "null"),
        (SELFLIST, "[(cycle)]"),
        (
            LHM,
            r#"{"z"=1, 2=Date(0), null=[-1], 1.5=java.time.DayOfWeek.MONDAY}"#,
        ),
        (
            HM,
            r#"{"a"=-1, "b"='x', "😀"="\ud800", 7=java.util.Arrays$ArrayList}"#,
        ),
        (BIGINT, "java.math.BigInteger"),
    ];
    for (hex, want) in cases {
        assert_eq!(display(&unhex(hex)).unwrap(), *want, "{hex}");
    }
    let tree = display(&unhex(TREE)).unwrap();
    assert!(
        tree.starts_with(r#"{"AaAaAaAa"="", "AaAaAaBB"="", "#),
        "{tree}"
    );
    assert!(
        tree.ends_with(r#""BBBBBBBB"="", "x"="", "y"=""}"#),
        "{tree}"
    );
    let map13 = display(&unhex(MAP13)).unwrap();
    assert!(
        map13.starts_with(r#"{"k0"="v0", "k1"="v1", "k10"="v10", "#),
        "{map13}"
    );
}

#[test]
fn parse_gives_the_generic_tree() {
    let st = parse(&unhex(LITERAL_LIST)).unwrap();
    assert_eq!(st.contents.len(), 1);
    let Some(Value::Ref(list)) = st.first_value() else {
        panic!("not an object")
    };
    let Obj::Object { class, data } = &st.entry(list).obj else {
        panic!("not an object")
    };
    let desc = st.class_desc(*class).unwrap();
    assert_eq!(desc.name, "java.util.ArrayList");
    assert_eq!(desc.suid, 0x7881_d21d_99c7_619d_u64 as i64);
    assert_eq!(desc.flags, SC_SERIALIZABLE | SC_WRITE_METHOD);
    assert_eq!(desc.fields[0].name, "size");
    assert_eq!(data[0].values, vec![Value::Int(2)]);
    // Block data with the capacity, then the string and a back-reference to the same entry.
    let a = &data[0].annotations;
    assert_eq!(a[0], Content::BlockData(vec![0, 0, 0, 2]));
    assert_eq!(a[1], a[2]);
    let Content::Value(Value::Ref(s)) = a[1] else {
        panic!("not a reference")
    };
    assert_eq!(
        st.entry(s).obj,
        Obj::String(JavaString("same".encode_utf16().collect()))
    );

    let st = parse(&unhex(INT)).unwrap();
    let Some(Value::Ref(i)) = st.first_value() else {
        panic!("not an object")
    };
    let Obj::Object { class, data } = &st.entry(i).obj else {
        panic!("not an object")
    };
    // Number has no data of its own; the chain is still there.
    let desc = st.class_desc(*class).unwrap();
    assert_eq!(
        st.class_desc(desc.superclass.unwrap()).unwrap().name,
        "java.lang.Number"
    );
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].values, vec![Value::Int(-2)]);
}

#[test]
fn java_number_formatting() {
    let d = [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (12.0, "12.0"),
        (0.9912, "0.9912"),
        (1e-8, "1.0E-8"),
        (1e7, "1.0E7"),
        (9999999.0, "9999999.0"),
        (0.001, "0.001"),
        (9.999e-4, "9.999E-4"),
        (123456789.0, "1.23456789E8"),
        (-1.5, "-1.5"),
        (1.0 / 3.0, "0.3333333333333333"),
        (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
        (f64::MAX, "1.7976931348623157E308"),
        (5e-324, "4.9E-324"),
        (1e23, "1.0E23"),
        (2.82879384806159E17, "2.82879384806159E17"),
    ];
    for (x, want) in d {
        assert_eq!(java_double_to_string(x), want, "{x:e}");
    }
    let f = [
        (1.5f32, "1.5"),
        (0.1, "0.1"),
        (1e10, "1.0E10"),
        (f32::MIN_POSITIVE, "1.1754944E-38"),
        (1.4e-45, "1.4E-45"),
        (f32::MAX, "3.4028235E38"),
        // 2874495.25, exactly between 2874495.2 and 2874495.3: the even one.
        (f32::from_bits(0x4a2f_71fd), "2874495.2"),
        (-0.0, "-0.0"),
    ];
    for (x, want) in f {
        assert_eq!(java_float_to_string(x), want, "{x:e}");
    }
}

#[test]
fn names_common_streams() {
    // ObjectOutputStream.writeObject("hi")
    let s = [0xAC, 0xED, 0, 5, 0x74, 0, 2, b'h', b'i'];
    assert_eq!(class_name(&s).unwrap(), "java.lang.String");
    let mut arr = vec![0xAC, 0xED, 0, 5, 0x75, 0x72, 0, 2, b'[', b'I'];
    arr.extend([0; 12]);
    assert_eq!(class_name(&arr).unwrap(), "int[]");
    assert_eq!(class_name(b"PK\x03\x04"), None);
    assert_eq!(
        source_spelling("[[Ljava.lang.String;"),
        "java.lang.String[][]"
    );
    assert_eq!(class_name(&unhex(LHM)).unwrap(), "java.util.LinkedHashMap");
}

/// Every sample stream, written by the JDK or by us.
fn samples() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        STR_NUL,
        INT,
        STRARR,
        LIST,
        MAP,
        TREE,
        LITERAL_LIST,
        DATE,
        LINKEDLIST,
        OBJARR,
        CHARARR,
        FLOATARR,
        SELFLIST,
        LHM,
        HM,
        BIGINT,
    ]
    .iter()
    .map(|h| unhex(h))
    .collect();
    v.push(serialize(&JavaValue::DoubleArray(vec![1.0, f64::NAN])));
    v
}

#[test]
fn every_truncation_is_an_error() {
    for full in samples() {
        for n in 0..full.len() {
            let cut = &full[..n];
            assert!(display(cut).is_err(), "prefix of {n} bytes");
            let _ = parse(cut);
            let _ = class_name(cut);
        }
        assert!(display(&full).is_ok());
    }
}

#[test]
fn random_corruption_never_panics() {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let samples = samples();
    let (mut ok, mut err) = (0, 0);
    for round in 0..20_000 {
        let mut b = samples[round % samples.len()].clone();
        for _ in 0..1 + next() % 4 {
            let i = 4 + (next() as usize) % (b.len() - 4);
            match next() % 3 {
                0 => b[i] ^= 1 << (next() % 8),
                1 => b[i] = next() as u8,
                _ => {
                    b[i] = [
                        0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x77, 0x78, 0x7A, 0x7F, 0xFF,
                    ][(next() % 11) as usize]
                }
            }
        }
        match display(&b) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        let _ = parse(&b);
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

/// `aced0005` `TC_ARRAY` with a fresh `[I` descriptor, then the length.
fn int_array_header(len: i32) -> Vec<u8> {
    let mut b = unhex("aced0005757200025b494dba602676eab2a50200007870");
    b.extend(len.to_be_bytes());
    b
}

#[test]
fn huge_claimed_lengths_fail_fast() {
    let e = display(&int_array_header(i32::MAX))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at byte 23") && e.contains("2147483647 elements"),
        "{e}"
    );
    assert!(display(&int_array_header(-1))
        .unwrap_err()
        .to_string()
        .contains("negative"));
    // TC_LONGSTRING of 2^63-1 bytes.
    let e = display(&unhex("aced00057c7fffffffffffffff61"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    // A block of 2^31-1 bytes.
    let e = parse(&unhex("aced00057a7fffffff00"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    // An ArrayList claiming 2^31-1 elements but holding none.
    let mut b = unhex(LIST);
    let at = b.len() - 19;
    assert_eq!(&b[at..at + 4], &[0, 0, 0, 2]);
    b[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let e = display(&b).unwrap_err().to_string();
    assert!(
        e.contains("java.util.ArrayList") && e.contains("ends early"),
        "{e}"
    );
}

#[test]
fn malformed_streams_name_the_offset() {
    let cases: &[(&str, &str)] = &[
        ("cafebabe", "at byte 0: not a Java serialization stream"),
        (
            "aced000571007e0000",
            "at byte 4: reference to unknown handle 0x007E0000",
        ),
        ("aced000560", "at byte 4: unknown type code 0x60"),
        (
            "aced000578",
            "at byte 4: expected an object, found TC_ENDBLOCKDATA",
        ),
        // A class that names itself as its superclass.
        (
            "aced0005737200014100000000000000010200007871007e0000",
            "at byte 21: class descriptor refers to itself",
        ),
        ("aced00057400036100", "at byte 7: truncated"),
        // "a" then an invalid byte of modified UTF-8.
        ("aced0005740002 61ff", "at byte 8: malformed modified UTF-8"),
        ("aced000577020102", "starts with block data"),
    ];
    for (hex, want) in cases {
        let e = display(&unhex(hex)).unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains(want), "{hex}: {e}");
    }
}

/// `count` nested `Object[]`, the innermost empty.
fn nested_arrays(count: usize) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    for i in 0..count {
        if i == 0 {
            b.extend(unhex(
                "7572 0013 5b4c6a6176612e6c616e672e4f626a6563743b 90ce589f1073296c 02 0000 78 70",
            ));
        } else {
            b.extend(unhex("7571007e0000"));
        }
        b.extend(if i + 1 < count {
            [0, 0, 0, 1]
        } else {
            [0, 0, 0, 0]
        });
    }
    b
}

#[test]
fn nesting_is_limited() {
    let ok = display(&nested_arrays(MAX_DEPTH)).unwrap();
    assert_eq!(
        ok,
        format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH))
    );
    let e = display(&nested_arrays(100_000)).unwrap_err().to_string();
    assert!(e.contains("nested deeper than 64"), "{e}");
}

#[test]
fn long_class_chains_are_read_without_recursion() {
    // An object whose class has 200000 superclasses, none with data.
    let mut b = MAGIC.to_vec();
    b.push(TC_OBJECT);
    for i in 0..200_000u32 {
        let name = format!("C{i}");
        b.push(TC_CLASSDESC);
        b.extend((name.len() as u16).to_be_bytes());
        b.extend(name.as_bytes());
        b.extend([0; 8]);
        b.extend([SC_SERIALIZABLE, 0, 0, TC_ENDBLOCKDATA]);
    }
    b.push(TC_NULL);
    assert_eq!(display(&b).unwrap(), "C0");
}

#[test]
fn shared_references_cannot_blow_up_the_text() {
    // Object[41]: a[0] = {}, a[k] = {a[k-1], a[k-1]}: 2^40 leaves when printed.
    let mut b = MAGIC.to_vec();
    b.extend(unhex(
        "7572 0013 5b4c6a6176612e6c616e672e4f626a6563743b 90ce589f1073296c 02 0000 78 70 00000029",
    ));
    // Handles: 0 the descriptor, 1 the outer array, 2 + k the array a[k].
    b.extend(unhex("7571007e0000 00000000"));
    for k in 1..41u32 {
        b.extend(unhex("7571007e0000 00000002"));
        for _ in 0..2 {
            b.push(TC_REFERENCE);
            b.extend((BASE_HANDLE + 2 + k - 1).to_be_bytes());
        }
    }
    // "would exceed" comes from the budget check, before the 2^40 leaves are printed.
    let e = display(&b).unwrap_err().to_string();
    assert!(e.contains("would exceed"), "{e}");
}
