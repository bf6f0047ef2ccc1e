package ai.neurolite

/**
 * A small JSON reader and writer (RFC 8259), because the library must also run on a plain JVM:
 * Android's org.json exists only on devices (on the host JVM of the tests there is none), and a
 * third-party parser would be one more dependency for four small documents (manifest.json,
 * test_vectors.json, the featurizer spec, the benchmark results).
 *
 * Values: objects are LinkedHashMap<String, Any?> (key order kept), arrays List<Any?>, strings
 * String (escapes decoded, lone surrogates kept, as Python's json does), numbers Long when written
 * without fraction or exponent and within Long's range, else Double; true/false Boolean; null null.
 * So `1` and `1.0` stay distinguishable, as the manifest checks require (Python: int vs float).
 */
object Json {
    fun parse(text: String): Any? = Parser(text).document()

    /** Compact JSON; with [indent], pretty-printed. Non-finite doubles are written as null. */
    fun write(value: Any?, indent: Int? = null): String {
        val out = StringBuilder()
        writeValue(out, value, indent, 0)
        return out.toString()
    }

    private fun writeValue(out: StringBuilder, value: Any?, indent: Int?, depth: Int) {
        when (value) {
            null -> out.append("null")
            is String -> writeString(out, value)
            is Boolean -> out.append(if (value) "true" else "false")
            is Int, is Long, is Short, is Byte -> out.append(value.toString())
            is Float -> writeDouble(out, value.toDouble())
            is Double -> writeDouble(out, value)
            is Number -> out.append(value.toString())
            is Map<*, *> -> {
                if (value.isEmpty()) {
                    out.append("{}")
                    return
                }
                out.append('{')
                var first = true
                for ((key, item) in value) {
                    if (!first) out.append(',')
                    first = false
                    newline(out, indent, depth + 1)
                    writeString(out, key.toString())
                    out.append(if (indent == null) ":" else ": ")
                    writeValue(out, item, indent, depth + 1)
                }
                newline(out, indent, depth)
                out.append('}')
            }
            is Iterable<*> -> writeList(out, value.toList(), indent, depth)
            is IntArray -> writeList(out, value.toList(), indent, depth)
            is FloatArray -> writeList(out, value.toList(), indent, depth)
            is DoubleArray -> writeList(out, value.toList(), indent, depth)
            is LongArray -> writeList(out, value.toList(), indent, depth)
            is BooleanArray -> writeList(out, value.toList(), indent, depth)
            is Array<*> -> writeList(out, value.toList(), indent, depth)
            else -> writeString(out, value.toString())
        }
    }

    private fun writeList(out: StringBuilder, items: List<Any?>, indent: Int?, depth: Int) {
        if (items.isEmpty()) {
            out.append("[]")
            return
        }
        val scalars = items.all { it == null || it is Number || it is Boolean || it is String }
        out.append('[')
        for ((i, item) in items.withIndex()) {
            if (i > 0) out.append(if (scalars && indent != null) ", " else ",")
            if (!scalars) newline(out, indent, depth + 1)
            writeValue(out, item, indent, depth + 1)
        }
        if (!scalars) newline(out, indent, depth)
        out.append(']')
    }

    private fun newline(out: StringBuilder, indent: Int?, depth: Int) {
        if (indent == null) return
        out.append('\n')
        repeat(indent * depth) { out.append(' ') }
    }

    private fun writeDouble(out: StringBuilder, value: Double) {
        if (value.isNaN() || value.isInfinite()) {
            out.append("null")
        } else if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            out.append(value.toLong().toString()).append(".0")
        } else {
            out.append(value.toString())
        }
    }

    private fun writeString(out: StringBuilder, text: String) {
        out.append('"')
        for (c in text) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                else -> if (c < ' ' || (c >= '\ud800' && c <= '\udfff')) {
                    out.append("\\u").append(Integer.toHexString(c - '\u0000').padStart(4, '0'))
                } else {
                    out.append(c)
                }
            }
        }
        out.append('"')
    }

    private class Parser(private val text: String) {
        private var at = 0

        fun document(): Any? {
            skipSpace()
            val value = value()
            skipSpace()
            if (at != text.length) fail("extra data after the JSON value")
            return value
        }

        private fun value(): Any? {
            if (at >= text.length) fail("expected a value, found the end of the text")
            return when (val c = text[at]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || (c in '0'..'9')) number() else fail("unexpected character '$c'")
            }
        }

        private fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            at++
            skipSpace()
            if (peek() == '}') {
                at++
                return out
            }
            while (true) {
                skipSpace()
                if (peek() != '"') fail("expected a string key")
                val key = string()
                skipSpace()
                expect(':')
                skipSpace()
                out[key] = value()
                skipSpace()
                when (peek()) {
                    ',' -> at++
                    '}' -> {
                        at++
                        return out
                    }
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        private fun array(): List<Any?> {
            val out = ArrayList<Any?>()
            at++
            skipSpace()
            if (peek() == ']') {
                at++
                return out
            }
            while (true) {
                skipSpace()
                out.add(value())
                skipSpace()
                when (peek()) {
                    ',' -> at++
                    ']' -> {
                        at++
                        return out
                    }
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        private fun string(): String {
            at++
            val out = StringBuilder()
            while (true) {
                if (at >= text.length) fail("unterminated string")
                val c = text[at++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (at >= text.length) fail("unterminated escape")
                        when (val e = text[at++]) {
                            '"' -> out.append('"')
                            '\\' -> out.append('\\')
                            '/' -> out.append('/')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (at + 4 > text.length) fail("truncated \\u escape")
                                val hex = text.substring(at, at + 4)
                                val code = try {
                                    Integer.parseInt(hex, 16)
                                } catch (e: NumberFormatException) {
                                    fail("invalid \\u escape '$hex'")
                                }
                                out.append(code.toChar())
                                at += 4
                            }
                            else -> fail("invalid escape '\\$e'")
                        }
                    }
                    c < ' ' -> fail("control character in a string")
                    else -> out.append(c)
                }
            }
        }

        private fun number(): Any {
            val start = at
            if (peek() == '-') at++
            digits()
            var integral = true
            if (peek() == '.') {
                integral = false
                at++
                digits()
            }
            if (peek() == 'e' || peek() == 'E') {
                integral = false
                at++
                if (peek() == '+' || peek() == '-') at++
                digits()
            }
            val literal = text.substring(start, at)
            if (integral) {
                try {
                    return java.lang.Long.parseLong(literal)
                } catch (e: NumberFormatException) {
                    // beyond Long: kept as a Double, as the checks only need to know it is out of range
                }
            }
            return literal.toDouble()
        }

        private fun digits() {
            val start = at
            while (at < text.length && text[at] in '0'..'9') at++
            if (at == start) fail("expected a digit")
        }

        private fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, at)) fail("invalid literal")
            at += word.length
            return value
        }

        private fun expect(c: Char) {
            if (peek() != c) fail("expected '$c'")
            at++
        }

        private fun peek(): Char = if (at < text.length) text[at] else '\u0000'

        private fun skipSpace() {
            while (at < text.length && (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t')) at++
        }

        private fun fail(message: String): Nothing {
            var line = 1
            var column = 1
            for (i in 0 until minOf(at, text.length)) {
                if (text[i] == '\n') {
                    line++
                    column = 1
                } else {
                    column++
                }
            }
            throw JsonException("$message at line $line column $column", line, column)
        }
    }
}

/** Malformed JSON; the message has the line and column. */
class JsonException(message: String, val line: Int, val column: Int) : Exception(message)

/** Reading helpers over parsed JSON that name the field (the path) when it is missing or mistyped. */
internal object Fields {
    fun typeName(value: Any?): String = when (value) {
        null -> "NoneType"
        is String -> "str"
        is Boolean -> "bool"
        is Long -> "int"
        is Double -> "float"
        is Map<*, *> -> "dict"
        is List<*> -> "list"
        else -> value.javaClass.simpleName
    }

    fun isInt(value: Any?): Boolean = value is Long

    @Suppress("UNCHECKED_CAST")
    fun obj(value: Any?): Map<String, Any?>? = value as? Map<String, Any?>
}
