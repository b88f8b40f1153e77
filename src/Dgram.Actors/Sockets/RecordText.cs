using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text;

namespace Dgram.Actors.Sockets;

/// <summary>
/// The <c>PrintMembers</c> of the public records that hold collections. The compiler's own prints a collection as its
/// type name (<c>Sources = &lt;&gt;z__ReadOnlyArray`1[System.Net.IPAddress]</c>); this prints its items
/// (<c>Sources = [198.51.100.3, 198.51.100.4]</c>), nested collections too, and everything else as the compiler
/// does: every public instance property in declaration order, <c>Name = value</c>, a null as nothing.
/// </summary>
internal static class RecordText
{
    /// <summary>Appends <paramref name="record"/>'s members; returns whether it has any (the compiler's contract).</summary>
    public static bool PrintMembers<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] T>(T record, StringBuilder builder)
    {
        PropertyInfo[] properties = Members<T>.Properties;
        for (int i = 0; i < properties.Length; i++)
        {
            if (i > 0) builder.Append(", ");
            builder.Append(properties[i].Name).Append(" = ");
            AppendValue(builder, properties[i].GetValue(record));
        }
        return properties.Length > 0;
    }

    /// <summary>A collection (but not a string) as <c>[item, item]</c>; anything else as <see cref="StringBuilder.Append(object)"/> writes it.</summary>
    public static void AppendValue(StringBuilder builder, object? value)
    {
        if (value is not IEnumerable items || value is string)
        {
            builder.Append(value);
            return;
        }
        builder.Append('[');
        bool first = true;
        foreach (object? item in items)
        {
            if (!first) builder.Append(", ");
            first = false;
            AppendValue(builder, item);
        }
        builder.Append(']');
    }

    private static class Members<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] T>
    {
        public static readonly PropertyInfo[] Properties = typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetMethod is not null && p.GetIndexParameters().Length == 0)
            .ToArray();
    }
}
