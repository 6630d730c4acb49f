// The chat view renders a streaming answer incrementally (only its unfinished tail again on
// each refresh); once the answer is finished, the document must be exactly what a full render
// of the same messages gives: the same text, the same Markdown structure, and every token's
// anchor on the same characters (what word hover and click rely on).
#include <QMap>
#include <QRegularExpression>
#include <QTest>
#include <QTextBlock>
#include <QTextDocument>

#include "ui/ChatView.h"

using vqa::Role;
using vqa::ui::ChatMessage;
using vqa::ui::ChatView;
using vqa::ui::TokenRecord;

namespace {

// Splits text into tokens of 1 to 5 characters (deterministic), so token boundaries fall
// inside Markdown syntax, words and blank lines as real BPE pieces do.
std::vector<std::pair<int, int>> chunks(const QString& text, unsigned seed) {
    std::vector<std::pair<int, int>> out;
    int i = 0;
    while (i < text.size()) {
        seed = seed * 1103515245u + 12345u;
        int end = std::min<int>(i + 1 + int((seed >> 16) % 5), int(text.size()));
        if (end < text.size() && text.at(end).isLowSurrogate())
            ++end;  // the engine streams whole characters
        out.push_back({i, end});
        i = end;
    }
    return out;
}

QString longParagraph() {
    QString s;
    for (int i = 0; i < 60; ++i) {
        s += QStringLiteral("word%1 ").arg(i);
        if (i % 7 == 3)
            s += QStringLiteral("**bold %1 text** and `code %1` ").arg(i);
        if (i % 11 == 5)
            s += QStringLiteral("[a link](https://example.org/%1) ").arg(i);
        if (i % 13 == 12)
            s += QStringLiteral("line,\n");
    }
    return s.trimmed();
}

// The anchor (token link) on every character of the document, with the character itself.
QStringList anchorsOf(const QTextDocument* doc) {
    QStringList out;
    for (QTextBlock b = doc->begin(); b.isValid(); b = b.next())
        for (auto it = b.begin(); !it.atEnd(); ++it) {
            const QTextFragment f = it.fragment();
            if (f.isValid())
                out << f.text() + QLatin1Char('|') + f.charFormat().anchorHref();
        }
    return out;
}

// Where two strings first differ, with some context, for a readable failure.
QString difference(const QString& a, const QString& b) {
    int i = 0;
    while (i < a.size() && i < b.size() && a.at(i) == b.at(i))
        ++i;
    if (i == a.size() && i == b.size())
        return {};
    const int from = std::max(0, i - 60);
    return QStringLiteral("at %1:\n  streamed: %2\n  full:     %3").arg(i).arg(a.mid(from, 140), b.mid(from, 140));
}

}  // namespace

class TestChatView : public QObject {
    Q_OBJECT
private slots:
    void streamedRenderEqualsFullRender_data() {
        QTest::addColumn<QString>("answer");
        QTest::addColumn<bool>("plain_tokens");  // check that plain tokens' anchors cover their text
        QTest::newRow("paragraphs") << QStringLiteral(
            "The scene shows **a red square** and *a blue circle*.\n\nThe square is on the `left`.\n\n"
            "Nothing else is visible.") << true;
        QTest::newRow("code fence with blank lines")
            << QStringLiteral("Here is code:\n\n```python\ndef f(x):\n\n    return x\n\n\nprint(f(1))\n```\n\n"
                              "And a paragraph after it.\n\n```\nsecond\n\nfence\n```") << true;
        QTest::newRow("long paragraph") << longParagraph() + QStringLiteral("\n\n") + longParagraph() << true;
        QTest::newRow("lists") << QStringLiteral(
            "Items:\n\n- first\n\n- second **bold**\n\n- third\n\n1. one\n\n2. two\n   continued\n\n"
            "3. three\n\nA closing paragraph.") << true;
        QTest::newRow("heading and table") << QStringLiteral(
            "# Title\n\nSome text.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Sub\n\n> a quote\n> more\n\nEnd.") << true;
        // Random mixtures of Markdown pieces (fixed seeds): what no one thought to write.
        const QStringList pieces{"word", " ", " ", " text", "\n", "\n\n", "\n\n", "**", "`", "```\n", "```py\n",
                                 "- ", "1. ", "# ", "> ", "| a | b |\n|---|---|\n| c | d |\n", "[x](https://e.org/y)",
                                 "_", "~~~\n", "    ", "2) ", "***", "<b>", "&amp;", "\\*", "!", "é", "😀"};
        for (unsigned seed = 1; seed <= 24; ++seed) {
            unsigned r = seed * 2654435761u;
            QString text;
            const int n = 40 + int(seed % 7) * 60;
            for (int i = 0; i < n; ++i) {
                r = r * 1103515245u + 12345u;
                text += pieces[int((r >> 16) % unsigned(pieces.size()))];
            }
            // HTML, entities and odd mixtures defeat the character alignment here and there:
            // only that streaming and full rendering agree is checked.
            QTest::newRow(qPrintable(QStringLiteral("random %1").arg(seed))) << text << false;
        }
    }

    void streamedRenderEqualsFullRender() {
        QFETCH(QString, answer);
        QFETCH(bool, plain_tokens);
        for (unsigned seed : {1u, 7u}) {
            std::vector<ChatMessage> messages(2);
            messages[0].role = Role::User;
            messages[0].text = QStringLiteral("What is in the image?");
            messages[1].role = Role::Assistant;
            messages[1].streaming = true;
            ChatView streamed;
            streamed.resize(600, 800);
            streamed.show();
            QVERIFY(QTest::qWaitForWindowExposed(&streamed));
            streamed.setMessages(&messages);
            int step = 0;
            for (auto [b, e] : chunks(answer, seed)) {
                ChatMessage& m = messages[1];
                TokenRecord r;
                r.start = int(m.text.size());
                m.text += answer.mid(b, e - b);
                r.end = int(m.text.size());
                m.tokens.push_back(r);
                // Every few tokens, as the coalescing timer does.
                if (++step % 3 == 0)
                    streamed.refreshMessage(1);
            }
            streamed.refreshMessage(1);
            messages[1].streaming = false;
            streamed.refreshMessage(1);

            ChatView full;
            full.resize(600, 800);
            full.show();
            QVERIFY(QTest::qWaitForWindowExposed(&full));
            full.setMessages(&messages);
            for (const auto& [a, b] : {std::pair{streamed.document()->toPlainText(), full.document()->toPlainText()},
                                       {streamed.document()->toMarkdown(), full.document()->toMarkdown()},
                                       {anchorsOf(streamed.document()).join('\n'), anchorsOf(full.document()).join('\n')}}) {
                const QString diff = difference(a, b);
                QVERIFY2(diff.isEmpty(), qPrintable(diff));
            }
            if (!plain_tokens)
                continue;
            // Each plain token's anchor covers exactly its own text (and not its neighbour's).
            QMap<QString, QString> anchored;
            for (const QString& f : anchorsOf(full.document())) {
                const int bar = f.lastIndexOf(QLatin1Char('|'));
                anchored[f.mid(bar + 1)] += f.left(bar);
            }
            int plain = 0;
            for (int t = 0; t < int(messages[1].tokens.size()); ++t) {
                const auto& r = messages[1].tokens[size_t(t)];
                const QString raw = messages[1].text.mid(r.start, r.end - r.start);
                const QString href = QStringLiteral("tok:1/%1").arg(t);
                static const QRegularExpression markup(QStringLiteral("[*_`\\[\\]()#|>~\\n:/.-]"));
                if (raw.contains(markup) || !anchored.contains(href))
                    continue;
                QVERIFY2(anchored[href].trimmed() == raw.trimmed(),  // a line start drops its spaces
                         qPrintable(QStringLiteral("token %1 \"%2\" in \"%3\": anchored \"%4\"").arg(t).arg(raw, messages[1].text.mid(r.start - 30, 60), anchored[href])));
                ++plain;
            }
            QVERIFY2(plain > int(messages[1].tokens.size()) / 8, qPrintable(QString::number(plain)));
            // Word hover and click find the same token under the same place.
            int hits = 0;
            for (int t = 0; t < int(messages[1].tokens.size()); ++t) {
                const QRect a = streamed.tokenRect(1, t), b = full.tokenRect(1, t);
                QCOMPARE(a, b);
                if (a.isEmpty() || a.width() < 2)
                    continue;
                const QString href = streamed.anchorAt(a.center());
                if (href.startsWith(QLatin1String("tok:"))) {
                    QCOMPARE(href, QStringLiteral("tok:1/%1").arg(t));
                    ++hits;
                }
            }
            QVERIFY2(hits > int(messages[1].tokens.size()) / 3, qPrintable(QString::number(hits)));
        }
    }

    // While streaming, the tokens already rendered keep pointing at their own text.
    void tokensMapToTheirTextWhileStreaming() {
        const QString answer = longParagraph() + QStringLiteral("\n\nSecond paragraph with plain words only.");
        std::vector<ChatMessage> messages(1);
        messages[0].role = Role::Assistant;
        messages[0].streaming = true;
        ChatView view;
        view.resize(600, 800);
        view.setMessages(&messages);
        for (auto [b, e] : chunks(answer, 3)) {
            ChatMessage& m = messages[0];
            m.tokens.push_back({int(m.text.size()), int(m.text.size()) + (e - b), 0, {}, {}, {}});
            m.text += answer.mid(b, e - b);
            view.refreshMessage(0);
        }
        // The last tokens are plain words: each one's anchor covers exactly its own text.
        const auto& m = messages[0];
        const QTextDocument* doc = view.document();
        for (int t = int(m.tokens.size()) - 12; t < int(m.tokens.size()); ++t) {
            const QRect r = view.tokenRect(0, t);
            QVERIFY2(!r.isEmpty(), qPrintable(QString::number(t)));
            if (r.width() >= 2) {
                const QString href = view.anchorAt(r.center());
                QCOMPARE(href, QStringLiteral("tok:0/%1").arg(t));
            }
        }
        QVERIFY(doc->toPlainText().contains(QStringLiteral("Second paragraph with plain words only.")));
    }

    // A thinking model's answer: its reasoning stands collapsed as one line while it streams
    // and after; what it says after </think> renders as any answer, streamed or whole; the
    // line opens and closes the reasoning, whose tokens are then hoverable too.
    void reasoningIsCollapsedUntilOpened() {
        const QString reasoning = QStringLiteral("Let me look at the shapes carefully.\nThere are two.");
        const QString answer = reasoning + QStringLiteral("\n</think>\n\nTwo **shapes**: a square and a disc.");
        std::vector<ChatMessage> messages(2);
        messages[0].role = Role::User;
        messages[0].text = QStringLiteral("How many shapes?");
        messages[1].role = Role::Assistant;
        messages[1].streaming = true;
        messages[1].reasons_first = true;
        ChatView view;
        view.resize(600, 800);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setMessages(&messages);
        bool seen_ongoing = false;
        for (auto [b, e] : chunks(answer, 3u)) {
            ChatMessage& m = messages[1];
            TokenRecord r;
            r.start = int(m.text.size());
            m.text += answer.mid(b, e - b);
            r.end = int(m.text.size());
            m.tokens.push_back(r);
            view.refreshMessage(1);
            const QString shown = view.document()->toPlainText();
            QVERIFY2(!shown.contains(QStringLiteral("shapes carefully")), qPrintable(shown));
            if (m.answerStart() < 0) {
                QVERIFY2(shown.contains(QStringLiteral("Reasoning…")), qPrintable(shown));
                seen_ongoing = true;
            }
        }
        QVERIFY(seen_ongoing);
        messages[1].streaming = false;
        view.refreshMessage(1);
        const QString done = view.document()->toPlainText();
        QVERIFY2(done.contains(QStringLiteral("Reasoning (10 words)")), qPrintable(done));
        QVERIFY2(done.contains(QStringLiteral("Two shapes: a square and a disc.")), qPrintable(done));
        QVERIFY(!done.contains(QStringLiteral("</think>")));

        // The same as rendering the finished messages at once.
        ChatView full;
        full.resize(600, 800);
        full.show();
        QVERIFY(QTest::qWaitForWindowExposed(&full));
        full.setMessages(&messages);
        QCOMPARE(view.document()->toPlainText(), full.document()->toPlainText());
        QCOMPARE(anchorsOf(view.document()).join('\n'), anchorsOf(full.document()).join('\n'));

        const ChatMessage& m = messages[1];
        auto tokenAt = [&](int raw) {
            for (int t = 0; t < int(m.tokens.size()); ++t)
                if (m.tokens[size_t(t)].start <= raw && raw < m.tokens[size_t(t)].end)
                    return t;
            return -1;
        };
        const int in_reasoning = tokenAt(int(m.text.indexOf(QStringLiteral("carefully"))));
        const int in_answer = tokenAt(int(m.text.indexOf(QStringLiteral("square"))));
        QVERIFY(view.tokenRect(1, in_reasoning).isEmpty());
        QVERIFY(!view.tokenRect(1, in_answer).isEmpty());

        emit view.anchorClicked(QUrl(QStringLiteral("reasoning:1")));
        QVERIFY(view.reasoningShown(1));
        const QString open = view.document()->toPlainText();
        QVERIFY2(open.contains(QStringLiteral("Let me look at the shapes carefully.")), qPrintable(open));
        QVERIFY2(open.indexOf(QStringLiteral("carefully")) < open.indexOf(QStringLiteral("square")), qPrintable(open));
        QVERIFY(!view.tokenRect(1, in_reasoning).isEmpty());
        QVERIFY(!view.tokenRect(1, in_answer).isEmpty());
        emit view.anchorClicked(QUrl(QStringLiteral("reasoning:1")));
        QVERIFY(!view.reasoningShown(1));
        QCOMPARE(view.document()->toPlainText(), done);
    }
};

QTEST_MAIN(TestChatView)
#include "tst_chatview.moc"
