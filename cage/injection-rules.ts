/**
 * The phrase rules of the injection detector, per category and language (English, German, French, Spanish).
 * Every pattern has bounded gaps (`.{0,n}`-style with a fixed n) and no nested quantifiers, so matching stays
 * linear in the input. Weights add up to a score; 1 is a confident detection.
 */
export type Category =
  | 'instruction_override'
  | 'role_impersonation'
  | 'chat_template'
  | 'system_tag'
  | 'invisible_characters'
  | 'bidi_override'
  | 'homoglyphs'
  | 'encoded_payload'
  | 'embedded_instruction'
  | 'prompt_leak';

export interface Rule {
  category: Category;
  weight: number;
  pattern: RegExp;
  /** Lower-case words the pattern cannot match without: the rule is skipped when none occurs (speed). */
  hints: string[];
  /** Only in what tools bring back (instructions planted in data), never in what users type. */
  indirectOnly?: boolean;
}

const GAP = '[^.!?\\n]{0,60}?';
const rule = (category: Category, weight: number, source: string, opts: { hints: string[]; indirectOnly?: boolean; flags?: string }): Rule => ({
  category,
  weight,
  pattern: new RegExp(source, opts.flags ?? 'giu'),
  hints: opts.hints,
  indirectOnly: opts.indirectOnly,
});

export const RULES: Rule[] = [
  // Instruction override
  rule('instruction_override', 1, `\\b(ignore|disregard|forget|override|bypass|skip|drop)\\b${GAP}\\b(previous|prior|above|earlier|preceding|all|any|your|the|these|those|initial|original|system)\\b${GAP}\\b(instructions?|rules|directions|directives|guidelines|prompts?|commands|context|constraints|restrictions|programming|orders|tasks?)\\b`, { hints: ['ignore', 'disregard', 'forget', 'override', 'bypass', 'skip', 'drop'] }),
  rule('instruction_override', 1, `\\b(ignore|forget|disregard)\\s+(everything|all)\\b`, { hints: ['ignore', 'forget', 'disregard'] }),
  rule('instruction_override', 0.7, `\\bnew\\s+(instructions?|task|rules|directives?)\\s*:`, { hints: ['new'] }),
  rule('instruction_override', 0.4, `(^|\\n)\\s*important\\s*[:!]`, { hints: ['important'] }),
  rule('instruction_override', 1, `\\b(ignoriere|ignorieren\\s+sie|vergiss|vergessen\\s+sie|missachte|missachten\\s+sie|überschreibe)\\b${GAP}\\b(alle[sn]?|vorherigen?|bisherigen?|obigen?|vorigen?|deine|ihre|die)\\b${GAP}\\b(anweisungen|aufträge|auftrag|befehle|regeln|informationen|aufgaben|vorgaben|instruktionen|anfragen|gesagte)\\b`, { hints: ['ignorier', 'vergiss', 'vergessen', 'missacht', 'überschreib'] }),
  rule('instruction_override', 1, `\\b(vergiss|vergessen\\s+sie|ignoriere)\\s+(alles|alle)\\b`, { hints: ['vergiss', 'vergessen', 'ignoriere'] }),
  rule('instruction_override', 0.7, `\\bneue\\s+(aufgabe|anweisung|anweisungen)\\b`, { hints: ['neue'] }),
  rule('instruction_override', 1, `\\b(ignore[rz]?|oublie[rz]?|oubliez)\\b${GAP}\\b(toutes?|les|vos|tes)\\b${GAP}\\b(instructions|consignes|règles|directives)\\b`, { hints: ['ignore', 'oubli'] }),
  rule('instruction_override', 1, `\\boublie[rz]?\\s+tout\\b`, { hints: ['oubli'] }),
  rule('instruction_override', 1, `\\b(ignora|ignore|olvida|olvide|olvidad)\\b${GAP}\\b(todas?|las|tus|sus|anteriores)\\b${GAP}\\b(instrucciones|reglas|indicaciones|órdenes)\\b`, { hints: ['ignor', 'olvid'] }),
  rule('instruction_override', 1, `\\bolvida\\s+todo\\b`, { hints: ['olvida'] }),
  // Typo-tolerant "forget/ignore what I said before", and its German and Spanish forms
  rule('instruction_override', 1, `\\b(ig\\w{0,3}re|forg[eo]t|disregard)\\s+(w[a-z]{2,3}t(?:'s)?|everything|all)\\b[^.!?\\n]{0,30}?\\b(before|above|earlier|previously|prior)\\b`, { hints: ['ig', 'forg', 'disregard'] }),
  rule('instruction_override', 1, `\\b(answer|reply|respond|antworte|antworten\\s+sie)\\s+(only\\s+)?(with|mit)\\b[^.!?\\n]{0,40}?\\b(and\\s+not|und\\s+nicht|instead\\s+of|statt)\\b`, { hints: ['answer', 'reply', 'respond', 'antwort'] }),
  rule('instruction_override', 1, `\\bthis\\s+is\\s+not\\s+a\\s+(prompt\\s+)?injection\\b|\\bdies\\s+ist\\s+keine\\s+(aufforderungsspritze|prompt-?injection)\\b`, { hints: ['injection', 'aufforderungsspritze'] }),
  rule('instruction_override', 0.7, `\\bforgot\\s+everything\\b`, { hints: ['forgot'] }),
  rule('instruction_override', 1, `\\b(höre?\\s+nicht\\s+auf|vergiss|ignoriere)\\s+(alles|das)\\s+(zuvor|vorher|davor|bisher)\\b`, { hints: ['höre', 'hör', 'vergiss', 'ignoriere'] }),
  rule('instruction_override', 1, `\\bolvid[ea]\\s+todo\\b`, { hints: ['olvid'] }),
  rule('instruction_override', 0.8, `(^|\\s)={3,}\\s*(end|ende|fin)\\b|\\bend\\s+of\\s+(the\\s+)?(prompt|instructions|system\\s+prompt)\\b`, { hints: ['===', 'end'] }),
  rule('instruction_override', 0.6, `\\byou\\s*(are|'re)\\s+(not\\s+)?supposed\\s+to\\b`, { hints: ['supposed'] }),
  rule('instruction_override', 0.7, `\\bnew\\s+statement\\b|\\bneue\\s+anweisung\\b`, { hints: ['statement', 'anweisung'] }),
  // Asking for the hidden prompt or internals
  rule('prompt_leak', 1, `\\b(print|show|repeat|reveal|output|display|spell-?\\s?check|write\\s+out)\\b[^.!?\\n]{0,20}?\\b(text|prompt|instructions)\\s+(above|before)\\b`, { hints: ['print', 'show', 'repeat', 'reveal', 'output', 'display', 'spell', 'write'] }),
  rule('prompt_leak', 1, `\\b(print|show|repeat|reveal|output|display|return|spell-?\\s?check|write\\s+out)\\b[^.!?\\n]{0,40}?\\b(above|previous|preceding|initial|original|system|your|hidden)\\b[^.!?\\n]{0,20}?\\b(prompt|instructions|text|embeddings|system\\s+message)\\b`, { hints: ['print', 'show', 'repeat', 'reveal', 'output', 'display', 'return', 'spell', 'write'] }),
  rule('prompt_leak', 1, `\\b(drucke?n?|zeige?n?|gib|wiederhole?n?|prüfen)\\b[^.!?\\n]{0,40}?\\b(obige|obigen|vorherige|vorherigen|gesamten\\s+obigen)\\b[^.!?\\n]{0,30}?\\b(eingabeaufforderung|anweisungen|textes|text|prompt)\\b`, { hints: ['druck', 'zeig', 'gib', 'wiederhol', 'prüf'] }),
  // Role impersonation
  rule('role_impersonation', 0.8, `\\byou\\s+are\\s+now\\b`, { hints: ['now'] }),
  rule('role_impersonation', 0.6, `\\bfrom\\s+now\\s+on\\b`, { hints: ['from now'] }),
  rule('role_impersonation', 0.5, `\\b(act|behave|respond)\\s+as\\s+(an?|the|if|my)\\b`, { hints: ['as '] }),
  rule('role_impersonation', 1, `\\bi\\s+want\\s+you\\s+to\\s+(act|behave|pretend|play|respond|reply|answer)\\b`, { hints: ['want you'] }),
  rule('role_impersonation', 1, `\\bich\\s+möchte,?\\s+dass\\s+(sie|du)\\s+als\\b[^.!?\\n]{0,40}?\\b(agieren|auftreten|fungieren|handeln|antworten)\\b`, { hints: ['möchte'] }),
  rule('role_impersonation', 1, `\\b(stay|remain)\\s+in\\s+(character|(their|your|his|her)\\s+roles?)\\b|\\b(in\\s+(a|this)\\s+(theoretical|hypothetical|fictional|imaginary)\\s+world\\s+where\\s+you|where\\s+you\\s+are\\s+(no|not)\\b[^.!?\\n]{0,40}?\\bbut\\s+an?)\\b`, { hints: ['stay', 'remain', 'world where', 'where you'] }),
  rule('role_impersonation', 1, `\\b(let'?s\\s+play\\s+a\\s+game|answer\\s+every\\s+question\\s+with|(if|when)\\s+i\\s+say\\b[^.!?\\n]{0,40}?\\byou\\s+say|si\\s+yo\\s+digo\\b[^.!?\\n]{0,40}?\\btu\\s+dices|wenn\\s+ich\\b[^.!?\\n]{0,30}?\\bsage,?\\s+sagst\\s+du)\\b`, { hints: ['play', 'answer every', 'say', 'digo', 'sage'] }),
  rule('role_impersonation', 0.6, `\\bpretend\\s+(to\\s+be|you\\s+are|that\\s+you)\\b`, { hints: ['pretend'] }),
  rule('role_impersonation', 1, `\\b(jailbreak|jailbroken|developer\\s+mode|do\\s+anything\\s+now|dan\\s+mode)\\b`, { hints: ['jailbreak', 'developer', 'anything now', 'dan'] }),
  rule('role_impersonation', 0.8, `\\b(du\\s+bist\\s+(jetzt|nun|ab\\s+sofort)|ab\\s+(jetzt|sofort)\\s+bist\\s+du|tu\\s+es\\s+maintenant|vous\\s+êtes\\s+maintenant|ahora\\s+eres|a\\s+partir\\s+de\\s+ahora\\s+eres)\\b`, { hints: ['bist', 'maintenant', 'ahora'] }),
  rule('role_impersonation', 0.6, `\\b(ab\\s+jetzt|von\\s+nun\\s+an|à\\s+partir\\s+de\\s+maintenant|a\\s+partir\\s+de\\s+ahora|de\\s+ahora\\s+en\\s+adelante)\\b`, { hints: ['jetzt', 'von nun', 'partir', 'ahora'] }),
  rule('role_impersonation', 0.6, `\\b(spiele?\\s+die\\s+rolle|tu\\s+als\\s+ob|stell\\s+dir\\s+vor,?\\s+du\\s+bist|fais\\s+semblant|joue\\s+le\\s+rôle|actúa\\s+como|finge\\s+(ser|que))\\b`, { hints: ['rolle', 'tu als', 'stell dir', 'semblant', 'rôle', 'actúa', 'finge'] }),
  // Chat-template tokens and turn markers
  rule('chat_template', 1, `<\\|\\s*(im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\\s*\\|>`, { hints: ['<|', '< |'] }),
  rule('chat_template', 1, `\\[/?INST\\]|<<\\s*/?\\s*SYS\\s*>>`, { hints: ['inst', 'sys'] }),
  rule('chat_template', 0.7, `(^|\\n)\\s*(human|assistant|system)\\s*:\\s*\\S`, { flags: 'gi' , hints: ['human', 'assistant', 'system'] }),
  // XML / system tags (a closing tag, or an opening tag at the start of a line: not an attribute value)
  rule('system_tag', 1, `</\\s*(system|instructions?|prompt|system_prompt|sys|admin|developer)\\s*>`, { hints: ['</', '< /'] }),
  rule('system_tag', 0.8, `(^|\\n|>)\\s*<\\s*(system|instructions?|system_prompt|admin|developer)(\\s[^>]{0,80})?>`, { hints: ['<'] }),
  // Instructions planted in data a tool returned, addressed to the agent
  rule('embedded_instruction', 1, `\\bplease\\b${GAP}\\b(transfer|send|share|grant|delete|remove|schedule|book|update|change|move|unlock|disable|enable|install|download|email|forward|post|withdraw|deposit|pay|purchase|buy|sell|invite|add|give|use|create|cancel|reset|deactivate|close|redirect|sign|publish|upload|set|get|find|retrieve|access|extract|list|search|fetch|look\\s+up|gather|obtain|compile|export|provide|locate)\\b`, { indirectOnly: true , hints: ['please'] }),
  // Data exfiltration: send the results somewhere, to an e-mail address
  rule('embedded_instruction', 1, `\\b(send|e-?mail|forward|share|mail|upload|transfer)\\b[^.\\n]{0,80}?\\bto\\b[^.\\n]{0,30}?[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+`, { indirectOnly: true , hints: ['@'] }),
  rule('embedded_instruction', 0.8, `\\buse\\s+(the\\s+)?['"\`]?[A-Z]\\w{3,}['"\`]?\\s+tool\\b`, { indirectOnly: true, flags: 'gu' , hints: ['tool'] }),
];
