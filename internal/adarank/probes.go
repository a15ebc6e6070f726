package adarank

// DefaultProbes are the nine generic sentences of the reference notebook.
var DefaultProbes = []string{
	"Here We Go Then, You And I is a 1999 album by Norwegian pop artist Morten Abel. It was Abel's second CD as a solo artist.",
	"The album went straight to number one on the Norwegian album chart, and sold to double platinum.",
	"Among the singles released from the album were the songs \"Be My Lover\" and \"Hard To Stay Awake\".",
	"Riccardo Zegna is an Italian jazz musician.",
	"Rajko Maksimović is a composer, writer, and music pedagogue.",
	"One of the most significant Serbian composers of our time, Maksimović has been and remains active in creating works for different ensembles.",
	"Ceylon spinach is a common name for several plants and may refer to: Basella alba Talinum fruticosum",
	"A solar eclipse occurs when the Moon passes between Earth and the Sun, thereby totally or partly obscuring the image of the Sun for a viewer on Earth.",
	"A partial solar eclipse occurs in the polar regions of the Earth when the center of the Moon's shadow misses the Earth.",
}
